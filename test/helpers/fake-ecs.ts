/**
 * A local ECS endpoint speaking the awsJson1_1 wire protocol (POST / with
 * `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`): DescribeTasks only, at
 * most 100 tasks per call, a task unknown to the cluster named listed under `failures` with
 * reason MISSING, as ECS does for a task stopped more than about an hour ago.
 */
import * as http from "http";
import {
  KEEP_ALIVE_TIMEOUT_MS,
  closeServer,
  listenOnLoopback,
  jsonProtocol,
  unknownOperation,
  type JsonReply,
} from "./http-server";

/** A task's times, epoch ms (the wire carries epoch seconds). */
export interface FakeTask {
  readonly createdAt?: number;
  readonly pullStartedAt?: number;
  readonly pullStoppedAt?: number;
  readonly startedAt?: number;
  readonly stoppedAt?: number;
  readonly launchType?: "EC2" | "FARGATE";
}

const TARGET = "AmazonEC2ContainerServiceV20141113.";

export class FakeEcs {
  /** DescribeTasks calls: the cluster and tasks asked for. */
  readonly requests: { cluster: string; tasks: string[] }[] = [];
  /** Tasks ECS knows, by ARN (cluster: the ARN's `task/<cluster>/…` segment). */
  readonly tasks = new Map<string, FakeTask>();
  /** Answer every call 400 AccessDeniedException, as for credentials without the action. */
  denied = false;
  private readonly server: http.Server;
  url = "";

  private constructor() {
    this.server = http.createServer(jsonProtocol((target, body) => this.answer(target, body)));
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  }

  static async start(): Promise<FakeEcs> {
    const fake = new FakeEcs();
    fake.url = await listenOnLoopback(fake.server);
    return fake;
  }

  /** Forgets every task and call, and answers again. */
  reset(): void {
    this.requests.splice(0);
    this.tasks.clear();
    this.denied = false;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private describeTasks(body: Record<string, unknown>): JsonReply {
    const cluster = typeof body.cluster === "string" ? body.cluster : "default";
    const arns = Array.isArray(body.tasks) ? body.tasks.map(String) : [];
    this.requests.push({ cluster, tasks: arns });
    if (this.denied) {
      const message = "User is not authorized to perform: ecs:DescribeTasks";
      return [400, { __type: "AccessDeniedException", message }, "AccessDeniedException"];
    }
    if (arns.length === 0 || arns.length > 100) {
      const message = "tasks must list 1 to 100 tasks";
      return [400, { __type: "InvalidParameterException", message }, "InvalidParameterException"];
    }
    const known = arns.filter((a) => this.tasks.has(a) && a.includes(`:task/${cluster}/`));
    const seconds = (ms: number | undefined): number | undefined =>
      ms !== undefined ? ms / 1000 : undefined;
    return [
      200,
      {
        tasks: known.map((taskArn) => {
          const t = this.tasks.get(taskArn) as FakeTask;
          return {
            taskArn,
            lastStatus: t.stoppedAt !== undefined ? "STOPPED" : "RUNNING",
            launchType: t.launchType ?? "EC2",
            createdAt: seconds(t.createdAt),
            pullStartedAt: seconds(t.pullStartedAt),
            pullStoppedAt: seconds(t.pullStoppedAt),
            startedAt: seconds(t.startedAt),
            stoppedAt: seconds(t.stoppedAt),
          };
        }),
        failures: arns.filter((a) => !known.includes(a)).map((arn) => ({ arn, reason: "MISSING" })),
      },
    ];
  }

  private answer(target: string, body: Record<string, unknown>): JsonReply {
    return target === `${TARGET}DescribeTasks`
      ? this.describeTasks(body)
      : unknownOperation(target);
  }
}
