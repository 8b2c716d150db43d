import * as assert from "assert";
import {
  EventPattern,
  Notifications,
  notificationPatterns,
  validateNotificationsArgs,
} from "../../components/notifications";
import { json, mockRun, ofType, single } from "../helpers/pulumi";

const QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/batchpy-queue";

/** True when one leaf alternative (a value or `{exists}`) matches the event's value. */
function leafMatches(alternative: unknown, value: unknown): boolean {
  if (typeof alternative === "object" && alternative !== null && "exists" in alternative) {
    return (alternative as { exists: boolean }).exists === (value !== undefined);
  }
  const values = Array.isArray(value) ? value : [value];
  return values.some((v) => v === alternative);
}

/** EventBridge matching as far as these patterns use it: exact values, any-of lists, `exists`. */
function matches(pattern: EventPattern, event: unknown): boolean {
  return Object.entries(pattern).every(([field, expected]) => {
    const value =
      typeof event === "object" && event !== null
        ? (event as Record<string, unknown>)[field]
        : undefined;
    return Array.isArray(expected)
      ? expected.some((alternative) => leafMatches(alternative, value))
      : matches(expected as EventPattern, value);
  });
}

/**
 * Events with the fields AWS's examples show; an array parent has `arrayProperties.size` and
 * `statusSummary`, a child `arrayProperties.index`.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_ArrayPropertiesDetail.html
 * @see https://docs.aws.amazon.com/batch/latest/userguide/batch-job-queue-blocked-events.html
 */
function jobEvent(status: string, detail: Record<string, unknown> = {}, queue = QUEUE) {
  return {
    version: "0",
    id: "c8f9c4b5-76e5-d76a-f980-7011e206042b",
    "detail-type": "Batch Job State Change",
    source: "aws.batch",
    account: "123456789012",
    time: "2022-01-11T23:36:40Z",
    region: "us-east-1",
    resources: ["arn:aws:batch:us-east-1:123456789012:job/4c7599ae"],
    detail: {
      jobArn: "arn:aws:batch:us-east-1:123456789012:job/4c7599ae",
      jobName: "event-test",
      jobId: "4c7599ae",
      jobQueue: queue,
      status,
      attempts: [],
      createdAt: 1641944200058,
      retryStrategy: { attempts: 2, evaluateOnExit: [] },
      dependsOn: [],
      jobDefinition: "arn:aws:batch:us-east-1:123456789012:job-definition/first-run:1",
      parameters: {},
      ...detail,
    },
  };
}
const PARENT = { arrayProperties: { statusSummary: { SUCCEEDED: 2 }, size: 2 } };
const CHILD = { arrayProperties: { index: 1 } };
const BLOCKED = {
  ...jobEvent("RUNNABLE", { statusReason: "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT" }),
  "detail-type": "Batch Job Queue Blocked",
  resources: ["arn:aws:batch:us-east-1:123456789012:job/4c7599ae", QUEUE],
};

/** The rule kinds an event matches. */
function matched(event: unknown): string[] {
  const patterns = notificationPatterns(QUEUE);
  return Object.keys(patterns).filter((kind) => matches(patterns[kind], event));
}

describe("notification event patterns", () => {
  it("send one message when a single job fails, none when it succeeds or retries", () => {
    assert.deepStrictEqual(matched(jobEvent("FAILED")), ["job-failed"]);
    assert.deepStrictEqual(matched(jobEvent("SUCCEEDED")), []);
    assert.deepStrictEqual(matched(jobEvent("RUNNABLE")), []);
  });

  it("send one message when a sweep's array parent ends, whether it succeeded or failed", () => {
    assert.deepStrictEqual(matched(jobEvent("SUCCEEDED", PARENT)), ["sweep-ended"]);
    assert.deepStrictEqual(matched(jobEvent("FAILED", PARENT)), ["sweep-ended"]);
    assert.deepStrictEqual(matched(jobEvent("RUNNING", PARENT)), []);
  });

  it("never send one for an array child", () => {
    assert.deepStrictEqual(matched(jobEvent("FAILED", CHILD)), []);
    assert.deepStrictEqual(matched(jobEvent("SUCCEEDED", CHILD)), []);
  });

  it("send one when Batch reports the queue blocked, for a sweep only by its first child", () => {
    const blockedChild = (index: number) => ({
      ...BLOCKED,
      detail: { ...BLOCKED.detail, jobId: `4c7599ae:${index}`, arrayProperties: { index } },
    });
    assert.deepStrictEqual(matched(BLOCKED), ["queue-blocked"]);
    assert.deepStrictEqual(matched(blockedChild(0)), ["queue-blocked"]);
    assert.deepStrictEqual(matched(blockedChild(1)), []);
  });

  it("ignore another queue's jobs", () => {
    const other = "arn:aws:batch:us-east-1:123456789012:job-queue/other";
    assert.deepStrictEqual(matched(jobEvent("FAILED", {}, other)), []);
    assert.deepStrictEqual(matched(jobEvent("FAILED", PARENT, other)), []);
    assert.deepStrictEqual(
      matched({ ...BLOCKED, detail: { ...BLOCKED.detail, jobQueue: other } }),
      [],
    );
  });
});

describe("Notifications", () => {
  it("for an address, creates a topic only this stack's rules may publish to, and subscribes it", async () => {
    const { resources } = await mockRun(() => {
      const n = new Notifications("n", { jobQueueArn: QUEUE, email: "me@example.com" });
      return { topic: n.topicArn };
    });
    const component = single(resources, "batchpy:notify:Notifications");
    const rules = ofType(resources, "aws:cloudwatch/eventRule:EventRule");
    const targets = ofType(resources, "aws:cloudwatch/eventTarget:EventTarget");
    const topic = single(resources, "aws:sns/topic:Topic");
    assert.strictEqual(rules.length, 3);
    assert.strictEqual(targets.length, 3);
    for (const child of [...rules, ...targets, topic]) {
      assert.strictEqual(child.parent, component.urn);
    }
    assert.strictEqual(topic.inputs.kmsMasterKeyId, undefined);
    for (const rule of rules) {
      const pattern = json<{ detail: { jobQueue: unknown } }>(rule.inputs.eventPattern);
      assert.deepStrictEqual(pattern.detail.jobQueue, [QUEUE]);
    }
    for (const target of targets) {
      assert.strictEqual(target.inputs.arn, topic.state.arn);
      const transformer = target.inputs.inputTransformer as Record<string, unknown>;
      assert.match(
        String(transformer.inputTemplate),
        /<jobName>.*npm run jobs:(status|why) -- <jobName>/,
      );
    }

    const subscription = single(resources, "aws:sns/topicSubscription:TopicSubscription");
    assert.strictEqual(subscription.inputs.protocol, "email");
    assert.strictEqual(subscription.inputs.endpoint, "me@example.com");

    const topicPolicy = single(resources, "aws:sns/topicPolicy:TopicPolicy");
    for (const target of targets) {
      // Sent to only once the policy lets the rules publish: none is lost at the first up.
      assert.ok(target.dependencies.includes(topicPolicy.urn), target.urn);
    }
    const policy = json<{ Statement: Record<string, unknown>[] }>(topicPolicy.inputs.policy);
    assert.deepStrictEqual(policy.Statement, [
      {
        Sid: "ThisStacksRulesPublish",
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: "sns:Publish",
        Resource: topic.state.arn,
        Condition: { ArnEquals: { "aws:SourceArn": rules.map((r) => r.state.arn) } },
      },
    ]);
  });

  it("for an existing topic, sends to it and leaves its policy alone", async () => {
    const topicArn = "arn:aws:sns:us-east-1:123456789012:alerts";
    const { resources } = await mockRun(() => {
      new Notifications("n", { jobQueueArn: QUEUE, topicArn });
      return {};
    });
    assert.deepStrictEqual(ofType(resources, "aws:sns/topic:Topic"), []);
    assert.deepStrictEqual(ofType(resources, "aws:sns/topicPolicy:TopicPolicy"), []);
    const targets = ofType(resources, "aws:cloudwatch/eventTarget:EventTarget");
    assert.deepStrictEqual(
      targets.map((t) => t.inputs.arn),
      [topicArn, topicArn, topicArn],
    );
  });

  it("needs exactly one destination, a plausible address or an SNS topic ARN", () => {
    assert.throws(
      () => validateNotificationsArgs("n", { jobQueueArn: QUEUE }),
      /Notifications 'n' needs exactly one of 'email' and 'topicArn'/,
    );
    assert.throws(
      () => validateNotificationsArgs("n", { jobQueueArn: QUEUE, email: "me" }),
      /'email' = "me"; give an address/,
    );
    assert.throws(
      () => validateNotificationsArgs("n", { jobQueueArn: QUEUE, topicArn: "alerts" }),
      /'topicArn' = "alerts"; give an SNS topic ARN/,
    );
  });
});
