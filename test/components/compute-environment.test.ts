import * as assert from "assert";
import {
  ComputeEnvironment,
  ComputeEnvironmentArgs,
  validateComputeEnvironmentArgs,
} from "../../components/compute-environment";
import { mockRun, ofType, single } from "../helpers/pulumi";

async function computeResources(args: ComputeEnvironmentArgs) {
  const run = await mockRun(() => {
    const ce = new ComputeEnvironment("c", args);
    return { arn: ce.computeEnvironmentArn };
  });
  const ce = single(run.resources, "aws:batch/computeEnvironment:ComputeEnvironment");
  return { ...run, ce, computeResources: ce.inputs.computeResources as Record<string, unknown> };
}

describe("ComputeEnvironment", () => {
  it("scales to zero when idle, on the tutorial's m5a.large, in the default VPC", async () => {
    const { resources, ce, computeResources: cr } = await computeResources({});
    assert.strictEqual(ce.inputs.type, "MANAGED");
    assert.strictEqual(ce.inputs.state, "ENABLED");
    assert.strictEqual(cr.type, "EC2");
    assert.strictEqual(cr.minVcpus, 0);
    assert.strictEqual(cr.maxVcpus, 16);
    assert.ok(!("desiredVcpus" in cr), "desiredVcpus is left to Batch");
    assert.deepStrictEqual(cr.instanceTypes, ["m5a.large"]);
    assert.strictEqual(cr.allocationStrategy, "BEST_FIT_PROGRESSIVE");
    assert.deepStrictEqual(cr.subnets, ["subnet-0pub1a", "subnet-0pub1b"]);
    const sg = single(resources, "aws:ec2/securityGroup:SecurityGroup");
    assert.deepStrictEqual(cr.securityGroupIds, [sg.id]);
    assert.strictEqual(sg.inputs.vpcId, "vpc-0defa017");
    assert.ok(!("ingress" in sg.inputs), "no inbound rules");
    const profile = single(resources, "aws:iam/instanceProfile:InstanceProfile");
    assert.strictEqual(cr.instanceRole, profile.state.arn);
    const component = single(resources, "batchpy:compute:ComputeEnvironment");
    for (const r of resources.filter((r) => r !== component)) {
      assert.strictEqual(r.parent, component.urn, `${r.urn} is not parented to the component`);
    }
  });

  it("has the Batch service role and the ECS instance role it needs, and is deleted before them", async () => {
    const { resources, ce } = await computeResources({});
    const attachments = ofType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
    assert.deepStrictEqual(attachments.map((a) => a.inputs.policyArn).sort(), [
      "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole",
      "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    ]);
    for (const a of attachments) {
      assert.ok(ce.dependencies.includes(a.urn), `the environment depends on ${a.urn}`);
    }
    const service = ofType(resources, "aws:iam/role:Role").find((r) => r.name === "c-service");
    assert.strictEqual(ce.inputs.serviceRole, service?.state.arn);
  });

  it("passes a non-zero minimum through unchanged: the policy pack, not the component, rejects it", async () => {
    const { computeResources: cr } = await computeResources({ minVcpus: 2 });
    assert.strictEqual(cr.minVcpus, 2);
  });

  it("uses spot capacity with a price-and-capacity strategy and an optional bid", async () => {
    const { computeResources: cr } = await computeResources({
      computeType: "SPOT",
      spotBidPercentage: 60,
    });
    assert.strictEqual(cr.type, "SPOT");
    assert.strictEqual(cr.allocationStrategy, "SPOT_PRICE_CAPACITY_OPTIMIZED");
    assert.strictEqual(cr.bidPercentage, 60);
  });

  it("runs on Fargate without instance settings, instance role or minimum", async () => {
    const { resources, computeResources: cr } = await computeResources({
      computeType: "FARGATE",
      maxVcpus: 8,
    });
    assert.deepStrictEqual(Object.keys(cr).sort(), [
      "maxVcpus",
      "securityGroupIds",
      "subnets",
      "type",
    ]);
    assert.strictEqual(cr.type, "FARGATE");
    assert.strictEqual(ofType(resources, "aws:iam/instanceProfile:InstanceProfile").length, 0);
  });

  it("uses a given VPC and subnets instead of the default VPC", async () => {
    const { resources, computeResources: cr } = await computeResources({
      vpcId: "vpc-1",
      subnetIds: ["subnet-a"],
    });
    assert.strictEqual(ofType(resources, "awsx:ec2:DefaultVpc").length, 0);
    assert.deepStrictEqual(cr.subnets, ["subnet-a"]);
    assert.strictEqual(
      single(resources, "aws:ec2/securityGroup:SecurityGroup").inputs.vpcId,
      "vpc-1",
    );
  });

  describe("validation", () => {
    const cases: [string, ComputeEnvironmentArgs, RegExp][] = [
      [
        "min above max",
        { minVcpus: 4, maxVcpus: 2 },
        /ComputeEnvironment 'c' has 'minVcpus' = 4 > 'maxVcpus' = 2; 'minVcpus' cannot be greater than 'maxVcpus'/,
      ],
      ["negative min", { minVcpus: -1 }, /'minVcpus' = -1; 'minVcpus' must be an integer from 0/],
      ["zero max", { maxVcpus: 0 }, /'maxVcpus' = 0; 'maxVcpus' must be an integer from 1/],
      [
        "unknown type",
        { computeType: "GPU" as never },
        /'computeType' = 'GPU'; it must be one of EC2, SPOT, FARGATE, FARGATE_SPOT/,
      ],
      [
        "Fargate minimum",
        { computeType: "FARGATE", minVcpus: 2 },
        /Fargate has no minimum, leave 'minVcpus' unset/,
      ],
      [
        "Fargate instance types",
        { computeType: "FARGATE_SPOT", instanceTypes: ["m5a.large"] },
        /sets 'instanceTypes' with 'computeType' = 'FARGATE_SPOT'/,
      ],
      ["no instance types", { instanceTypes: [] }, /empty 'instanceTypes'/],
      [
        "spot strategy on EC2",
        { allocationStrategy: "SPOT_CAPACITY_OPTIMIZED" },
        /with 'computeType' = 'EC2' it must be one of BEST_FIT, BEST_FIT_PROGRESSIVE/,
      ],
      [
        "bid on EC2",
        { spotBidPercentage: 50 },
        /'spotBidPercentage' with 'computeType' = 'EC2'; it applies to SPOT only/,
      ],
      [
        "bid over 100",
        { computeType: "SPOT", spotBidPercentage: 150 },
        /'spotBidPercentage' = 150/,
      ],
      ["subnets without VPC", { subnetIds: ["s"] }, /sets only one of 'vpcId' and 'subnetIds'/],
    ];
    for (const [what, args, message] of cases) {
      it(`rejects ${what}`, () => {
        assert.throws(() => validateComputeEnvironmentArgs("c", args), message);
      });
    }

    it("fails before creating anything", async () => {
      await assert.rejects(
        computeResources({ minVcpus: 4, maxVcpus: 2 }),
        /'minVcpus' cannot be greater/,
      );
    });
  });
});
