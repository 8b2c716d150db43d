/**
 * A local CloudWatch Logs endpoint speaking the awsJson1_1 wire protocol (POST / with
 * `X-Amz-Target: Logs_20140328.<Operation>`), GetLogEvents only, with AWS's paging rule:
 * at the end of a stream the same forward token comes back.
 */
import { randomUUID } from "crypto";
import * as http from "http";
import { closeServer, listenOnLoopback } from "./http-server";

export interface FakeLogEvent {
  readonly timestamp: number;
  readonly message: string;
}

export class FakeCloudWatchLogs {
  readonly requests: { target: string; body: Record<string, unknown> }[] = [];
  private readonly streams = new Map<string, FakeLogEvent[]>();
  private readonly server: http.Server;
  private readonly pageSize: number;
  url = "";

  private constructor(pageSize: number) {
    this.pageSize = pageSize;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  /** `pageSize` small in tests, to prove the client follows tokens. */
  static async start(pageSize = 3): Promise<FakeCloudWatchLogs> {
    const fake = new FakeCloudWatchLogs(pageSize);
    fake.url = await listenOnLoopback(fake.server);
    return fake;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  /** Appends lines to a stream (created on first use). */
  put(group: string, stream: string, messages: readonly string[]): void {
    const key = `${group}\0${stream}`;
    const events = this.streams.get(key) ?? [];
    const now = Date.now();
    messages.forEach((message, i) => events.push({ timestamp: now + i, message }));
    this.streams.set(key, events);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<
        string,
        unknown
      >;
      this.requests.push({ target, body });
      const reply = (status: number, payload: unknown, errorType?: string): void => {
        res.writeHead(status, {
          "content-type": "application/x-amz-json-1.1",
          "x-amzn-requestid": randomUUID(),
          ...(errorType !== undefined ? { "x-amzn-errortype": errorType } : {}),
        });
        res.end(JSON.stringify(payload));
      };
      if (target !== "Logs_20140328.GetLogEvents") {
        reply(
          400,
          { __type: "UnknownOperationException", message: `${target} is not supported` },
          "UnknownOperationException",
        );
        return;
      }
      const events = this.streams.get(
        `${String(body.logGroupName)}\0${String(body.logStreamName)}`,
      );
      if (events === undefined) {
        reply(
          400,
          {
            __type: "ResourceNotFoundException",
            message: "The specified log stream does not exist.",
          },
          "ResourceNotFoundException",
        );
        return;
      }
      const token = typeof body.nextToken === "string" ? body.nextToken : "f/0";
      const start = Number(token.slice(2));
      const page = events.slice(start, start + this.pageSize);
      reply(200, {
        events: page.map((e) => ({ ...e, ingestionTime: e.timestamp })),
        nextForwardToken: `f/${start + page.length}`,
        nextBackwardToken: `b/${start}`,
      });
    });
  }
}
