import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "./validation";

export type EventPattern = { [field: string]: EventPattern | readonly unknown[] };

/**
 * A sweep notifies when its parent (with `arrayProperties.size`) ends, never per child (with
 * `index`); a blocked queue may hold each child at its head in turn, so child 0 speaks for all.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html
 * @see https://docs.aws.amazon.com/batch/latest/userguide/batch-job-queue-blocked-events.html
 */
export function notificationPatterns(jobQueueArn: string): Record<string, EventPattern> {
  const event = (detailType: string, detail: EventPattern) => ({
    source: ["aws.batch"],
    "detail-type": [detailType],
    detail: { jobQueue: [jobQueueArn], ...detail },
  });
  const jobs = (status: string[], arrayProperties: EventPattern) =>
    event("Batch Job State Change", { status, arrayProperties });
  return {
    "job-failed": jobs(["FAILED"], { size: [{ exists: false }], index: [{ exists: false }] }),
    "sweep-ended": jobs(["SUCCEEDED", "FAILED"], { size: [{ exists: true }] }),
    "queue-blocked": event("Batch Job Queue Blocked", {
      arrayProperties: { index: [{ exists: false }, 0] },
    }),
  };
}

const MESSAGES: Record<string, string> = {
  "job-failed":
    '"batchpy job <jobName> (<jobId>) is <status>: <statusReason>. Look: npm run jobs:status -- <jobName>"',
  "sweep-ended":
    '"batchpy sweep <jobName> (<jobId>) is <status>. Look: npm run jobs:status -- <jobName>"',
  "queue-blocked":
    '"batchpy queue blocked by job <jobName> (<jobId>): <statusReason>. Look: npm run jobs:why -- <jobName>"',
};

const INPUT_PATHS = Object.fromEntries(
  ["jobName", "jobId", "status", "statusReason"].map((field) => [field, `$.detail.${field}`]),
);

export interface NotificationsArgs {
  /** The queue whose jobs notify; other queues' events never match. */
  readonly jobQueueArn: pulumi.Input<string>;
  /** Sends to this address through a new topic; the recipient must confirm the subscription. */
  readonly email?: string;
  /** Sends to this existing topic, whose policy must let EventBridge publish (docs/settings.md). */
  readonly topicArn?: pulumi.Input<string>;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export function validateNotificationsArgs(name: string, args: Partial<NotificationsArgs>): void {
  const where = `Notifications '${name}'`;
  if ((args.email === undefined) === (args.topicArn === undefined)) {
    throw new ValidationError(`${where} needs exactly one of 'email' and 'topicArn'.`, "email");
  }
  if (args.email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(args.email)) {
    throw new ValidationError(
      `${where} has 'email' = ${JSON.stringify(args.email)}; give an address such as me@example.com.`,
      "email",
    );
  }
  if (typeof args.topicArn === "string" && !/^arn:aws[a-z-]*:sns:/.test(args.topicArn)) {
    throw new ValidationError(
      `${where} has 'topicArn' = ${JSON.stringify(args.topicArn)}; give an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alerts.`,
      "topicArn",
    );
  }
}

/** EventBridge rules on one queue sending to an SNS topic; a message may come twice. */
export class Notifications extends pulumi.ComponentResource {
  public readonly topicArn: pulumi.Output<string>;

  constructor(name: string, args: NotificationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:notify:Notifications", name, {}, opts);
    validateNotificationsArgs(name, args);
    const kinds = Object.keys(MESSAGES);
    const rules = kinds.map(
      (kind) =>
        new aws.cloudwatch.EventRule(
          `${name}-${kind}`,
          {
            description: `batchpy: ${kind} on this stack's queue`,
            eventPattern: pulumi
              .output(args.jobQueueArn)
              .apply((arn) => JSON.stringify(notificationPatterns(arn)[kind])),
            tags: args.tags,
          },
          { parent: this },
        ),
    );
    // A topic of our own is sent to only once its policy lets the rules publish.
    const own =
      args.email !== undefined ? this.createTopic(name, args.email, rules, args.tags) : undefined;
    this.topicArn = own?.arn ?? pulumi.output(args.topicArn as pulumi.Input<string>);
    kinds.forEach((kind, i) => {
      new aws.cloudwatch.EventTarget(
        `${name}-${kind}`,
        {
          rule: rules[i].name,
          arn: this.topicArn,
          inputTransformer: { inputPaths: INPUT_PATHS, inputTemplate: MESSAGES[kind] },
        },
        { parent: this, dependsOn: own ? [own.policy] : [] },
      );
    });
    this.registerOutputs({ topicArn: this.topicArn });
  }

  // Unencrypted: the AWS-managed SNS key does not let EventBridge publish, and a customer-managed
  // key costs money even idle, for messages that carry only a job's name and status.
  private createTopic(
    name: string,
    email: string,
    rules: aws.cloudwatch.EventRule[],
    tags: NotificationsArgs["tags"],
  ) {
    const topic = new aws.sns.Topic(`${name}-topic`, { tags }, { parent: this });
    const statement = {
      Sid: "ThisStacksRulesPublish",
      Effect: "Allow",
      Principal: { Service: "events.amazonaws.com" },
      Action: "sns:Publish",
      Resource: topic.arn,
      Condition: { ArnEquals: { "aws:SourceArn": rules.map((r) => r.arn) } },
    };
    const policy = new aws.sns.TopicPolicy(
      `${name}-topic-policy`,
      {
        arn: topic.arn,
        policy: pulumi.jsonStringify({ Version: "2012-10-17", Statement: [statement] }),
      },
      { parent: this },
    );
    new aws.sns.TopicSubscription(
      `${name}-email`,
      { topic: topic.arn, protocol: "email", endpoint: email },
      { parent: this },
    );
    pulumi.log.info(
      `Notifications go to ${email} once its recipient confirms the e-mail AWS sends ("AWS Notification - Subscription Confirmation").`,
      this,
    );
    return { arn: topic.arn, policy };
  }
}
