import { strict as assert } from "assert";
import {
  batchJobRoleRequired,
  batchJobTimeoutRequired,
  timeoutProblem,
} from "../../policy/batch-job-definition";
import { TYPES } from "../../policy/resources";
import {
  EXECUTION_ROLE_ARN,
  JOB_ROLE_ARN,
  containerProperties,
  ecsJobDefinition,
  eksJobDefinition,
  jobDefinition,
  multiNodeJobDefinition,
} from "./fixtures";
import {
  assertHasResourceViolation,
  assertNoResourceViolations,
  resourceArgs,
  unknown,
} from "./policy-helpers";

const def = (props: object, config?: Record<string, unknown>) =>
  resourceArgs(TYPES.jobDefinition, props, { name: "batchpy-dev-def", config });

describe("batch-job-timeout-required", () => {
  const policy = batchJobTimeoutRequired;
  const withTimeout = (attemptDurationSeconds: number | undefined) => {
    const props = jobDefinition();
    props.timeout = { attemptDurationSeconds };
    return props;
  };

  it("passes the dev stack's 60-second timeout (AWS's minimum)", async () => {
    await assertNoResourceViolations(policy, def(jobDefinition()));
  });

  it("passes the default ceiling of 24 h exactly", async () => {
    await assertNoResourceViolations(policy, def(withTimeout(86400)));
  });

  it("reports a job definition without a timeout, naming it and the fix", async () => {
    const props = jobDefinition();
    delete props.timeout;
    await assertHasResourceViolation(
      policy,
      def(props),
      "Job definition 'batchpy-dev-def' (container) has no timeout.attemptDurationSeconds",
      "Fix: set timeout: { attemptDurationSeconds: N } with 60 ≤ N ≤ 86400",
    );
    await assertHasResourceViolation(policy, def(withTimeout(undefined)), "has no timeout");
  });

  it("reports a timeout below AWS's minimum of 60 seconds", async () => {
    await assertHasResourceViolation(
      policy,
      def(withTimeout(30)),
      "timeout.attemptDurationSeconds 30, below AWS Batch's minimum of 60 seconds",
    );
  });

  it("reports a timeout above the ceiling, in seconds and hours", async () => {
    await assertHasResourceViolation(
      policy,
      def(withTimeout(172800)),
      "172800 (48 h), above the ceiling of 86400 (24 h)",
      "maxAttemptDurationSeconds",
    );
  });

  it("takes the ceiling from the policy config", async () => {
    await assertHasResourceViolation(
      policy,
      def(withTimeout(7200), { maxAttemptDurationSeconds: 3600 }),
      "7200 (2 h), above the ceiling of 3600 (1 h)",
    );
    await assertNoResourceViolations(
      policy,
      def(withTimeout(172800), { maxAttemptDurationSeconds: 2 * 86400 }),
    );
  });

  it("reports fractional seconds, which AWS does not take", async () => {
    await assertHasResourceViolation(policy, def(withTimeout(90.5)), "whole seconds");
  });

  it("covers multi-node, ECS and EKS job definitions", async () => {
    for (const [props, kind] of [
      [multiNodeJobDefinition(), "multi-node"],
      [ecsJobDefinition(), "container, ecsProperties"],
      [eksJobDefinition("batchpy-job"), "container, eksProperties"],
    ] as const) {
      await assertNoResourceViolations(policy, def(props));
      const untimed = { ...props, timeout: undefined };
      await assertHasResourceViolation(policy, def(untimed), `(${kind}) has no timeout`);
    }
  });

  it("reports nothing while the timeout is unknown", async () => {
    await assertNoResourceViolations(policy, def(withTimeout(unknown<number>())));
    await assertNoResourceViolations(policy, def({ ...jobDefinition(), timeout: unknown() }));
  });

  it("timeoutProblem is undefined within bounds", () => {
    assert.equal(timeoutProblem(jobDefinition(), 86400), undefined);
    assert.match(timeoutProblem(withTimeout(59), 86400) ?? "", /below/);
  });
});

describe("batch-job-role-required", () => {
  const policy = batchJobRoleRequired;

  it("passes the dev stack's container job definition with its job role", async () => {
    await assertNoResourceViolations(policy, def(jobDefinition()));
  });

  it("reports containerProperties without jobRoleArn, naming the property and the fix", async () => {
    const props = jobDefinition();
    props.containerProperties = containerProperties({ jobRoleArn: undefined });
    await assertHasResourceViolation(
      policy,
      def(props),
      "'batchpy-dev-def' (container)",
      "containerProperties.jobRoleArn not set",
      "Fix: set containerProperties.jobRoleArn",
    );
  });

  it("does not accept the execution role in place of the job role", async () => {
    const props = jobDefinition();
    props.containerProperties = containerProperties({
      jobRoleArn: "",
      executionRoleArn: EXECUTION_ROLE_ARN,
    });
    await assertHasResourceViolation(policy, def(props), "containerProperties.jobRoleArn");
  });

  it("reports containerProperties that is not JSON", async () => {
    const props = jobDefinition();
    props.containerProperties = "{ image: python }";
    await assertHasResourceViolation(
      policy,
      def(props),
      "containerProperties that is not valid JSON",
    );
  });

  it("checks every ECS task's taskRoleArn", async () => {
    await assertNoResourceViolations(policy, def(ecsJobDefinition()));
    const props = ecsJobDefinition([
      { taskRoleArn: JOB_ROLE_ARN, containers: [] },
      { executionRoleArn: EXECUTION_ROLE_ARN, containers: [] },
    ]);
    await assertHasResourceViolation(
      policy,
      def(props),
      "ecsProperties.taskProperties[1].taskRoleArn",
    );
  });

  it("checks an EKS job's service account", async () => {
    await assertNoResourceViolations(policy, def(eksJobDefinition("batchpy-job")));
    await assertHasResourceViolation(
      policy,
      def(eksJobDefinition(undefined)),
      "eksProperties.podProperties.serviceAccountName",
    );
  });

  it("checks every node range of a multi-node job", async () => {
    await assertNoResourceViolations(policy, def(multiNodeJobDefinition()));
    const props = multiNodeJobDefinition([
      { targetNodes: "0", container: { image: "python", jobRoleArn: JOB_ROLE_ARN } },
      { targetNodes: "1:", container: { image: "python" } },
    ]);
    await assertHasResourceViolation(
      policy,
      def(props),
      "(multi-node)",
      "nodeProperties.nodeRangeProperties[1].container.jobRoleArn",
    );
  });

  it("reports a job definition that describes no container at all", async () => {
    await assertHasResourceViolation(
      policy,
      def({ type: "container", timeout: { attemptDurationSeconds: 60 } }),
      "containerProperties.jobRoleArn",
    );
  });

  it("reports nothing while the properties document or the role is unknown", async () => {
    await assertNoResourceViolations(
      policy,
      def({ ...jobDefinition(), containerProperties: unknown() }),
    );
    await assertNoResourceViolations(
      policy,
      def({ ...ecsJobDefinition(), ecsProperties: unknown() }),
    );
    await assertNoResourceViolations(
      policy,
      def({
        ...jobDefinition(),
        containerProperties: containerProperties({ jobRoleArn: unknown() }),
      }),
    );
    await assertNoResourceViolations(policy, def(eksJobDefinition(unknown())));
  });
});
