import { strict as assert } from "assert";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { parseUrn } from "../../policy/check/cli";
import {
  AnalyzedResource,
  analyzeRequest,
  analyzerResource,
  enforcementLevelName,
  enforcementLevelValue,
  fromDiagnostic,
} from "../../policy/check/pack";
import { UNKNOWN_SENTINELS } from "./policy-helpers";

const queue: AnalyzedResource = {
  urn: "urn:pulumi:dev::batchpy::batchpy:queue:JobQueue$aws:batch/jobQueue:JobQueue::batchpy-dev-queue",
  type: "aws:batch/jobQueue:JobQueue",
  name: "batchpy-dev-queue",
  inputs: {
    priority: 1,
    computeEnvironmentOrders: [{ computeEnvironment: UNKNOWN_SENTINELS.string, order: 0 }],
    tags: undefined,
    securityGroupIds: [undefined, "sg-1"],
  },
  state: { arn: "arn:aws:batch:us-east-1:123456789012:job-queue/q" },
  parent: "urn:pulumi:dev::batchpy::batchpy:queue:JobQueue::batchpy-dev",
  dependencies: ["urn:ce"],
  propertyDependencies: { computeEnvironmentOrders: ["urn:ce"], priority: [] },
};

describe("policy:check wire format", () => {
  it("sends Analyze the inputs as JSON (unknown sentinels kept), type, name, URN and parent", () => {
    const request = analyzeRequest(queue);
    assert.equal(request.getType(), queue.type);
    assert.equal(request.getUrn(), queue.urn);
    assert.equal(request.getName(), "batchpy-dev-queue");
    assert.deepEqual(request.getProperties()?.toJavaScript(), {
      priority: 1,
      computeEnvironmentOrders: [{ computeEnvironment: UNKNOWN_SENTINELS.string, order: 0 }],
      securityGroupIds: [null, "sg-1"],
    });
    assert.equal(request.getOptions()?.getParent(), queue.parent);
    assert.equal(request.getOptions()?.getProtect(), false);
  });

  it("sends AnalyzeStack outputs (inputs and state) with parent and dependencies", () => {
    const resource = analyzerResource(queue);
    assert.equal(resource.getProperties()?.toJavaScript().arn, queue.state?.arn);
    assert.equal(resource.getParent(), queue.parent);
    assert.deepEqual(resource.getDependenciesList(), ["urn:ce"]);
    assert.deepEqual(
      resource.getPropertydependenciesMap().get("computeEnvironmentOrders")?.getUrnsList(),
      ["urn:ce"],
    );
  });

  it("reads a diagnostic, naming the analyzed resource when the policy named none", () => {
    const d = new analyzerPb.AnalyzeDiagnostic();
    d.setPolicyname("batch-compute-min-vcpus-zero");
    d.setPolicypackname("batchpy");
    d.setPolicypackversion("0.1.0");
    d.setDescription("Checks whether …");
    d.setMessage("Checks whether …\nCompute environment 'x' must scale to zero");
    d.setEnforcementlevel(analyzerPb.EnforcementLevel.MANDATORY);
    d.setSeverity(analyzerPb.PolicySeverity.POLICY_SEVERITY_HIGH);
    const read = fromDiagnostic(d, queue.urn);
    assert.equal(read.enforcementLevel, "mandatory");
    assert.equal(read.urn, queue.urn);
    assert.equal(read.severity, "high");
  });

  it("maps enforcement levels both ways", () => {
    for (const level of ["advisory", "mandatory", "remediate", "disabled"] as const) {
      assert.equal(enforcementLevelName(enforcementLevelValue(level)), level);
    }
  });

  it("parses a URN into the type and name pulumi preview prints", () => {
    assert.deepEqual(parseUrn(queue.urn), {
      type: "aws:batch/jobQueue:JobQueue",
      name: "batchpy-dev-queue",
    });
    assert.equal(parseUrn("not-a-urn"), undefined);
  });
});
