import * as assert from "assert";
import {
  ComputeEnvironment,
  ComputeEnvironmentArgs,
  EC2_CONFIGURATION,
  IMDS_BLOCK_RULE,
  IMDS_BLOCK_USER_DATA,
  validateComputeEnvironmentArgs,
} from "../../components/compute-environment";
import { MockCall } from "../../policy/check/evaluate";
import { mockRun, ofType, single } from "../helpers/pulumi";

async function computeResources(
  args: ComputeEnvironmentArgs,
  calls?: (call: MockCall) => Record<string, unknown> | undefined,
) {
  const run = await mockRun(
    () => {
      const ce = new ComputeEnvironment("c", args);
      return { arn: ce.computeEnvironmentArn, jobLimits: ce.jobLimits };
    },
    {},
    calls,
  );
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

  it("sets no service role, so Batch uses its service-linked role and updates in place", async () => {
    for (const computeType of ["EC2", "SPOT", "FARGATE", "FARGATE_SPOT"] as const) {
      const { resources, ce } = await computeResources({ computeType });
      assert.ok(!("serviceRole" in ce.inputs), `${computeType}: serviceRole is left to Batch`);
      const roles = ofType(resources, "aws:iam/role:Role").map((r) => r.name);
      assert.ok(!roles.includes("c-service"), `${computeType}: no custom service role`);
      const trusted = ofType(resources, "aws:iam/role:Role").map((r) =>
        String(r.inputs.assumeRolePolicy),
      );
      assert.ok(!trusted.some((t) => t.includes("batch.amazonaws.com")), computeType);
    }
  });

  it("is a new resource name, replacing the one that used a custom service role", async () => {
    const { ce } = await computeResources({});
    assert.strictEqual(ce.name, "c-compute");
    assert.notStrictEqual(ce.name, "c-ce");
  });

  it("gives instances only the ECS agent's managed policy, and is deleted before it", async () => {
    const { resources, ce } = await computeResources({});
    const attachments = ofType(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment");
    assert.deepStrictEqual(
      attachments.map((a) => a.inputs.policyArn),
      ["arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"],
    );
    assert.strictEqual(ofType(resources, "aws:iam/rolePolicy:RolePolicy").length, 0);
    assert.ok(ce.dependencies.includes(attachments[0].urn), "the environment depends on it");
  });

  it("launches instances from a template: IMDSv2 only, metadata blocked for non-root users", async () => {
    for (const computeType of ["EC2", "SPOT"] as const) {
      const { resources, computeResources: cr } = await computeResources({ computeType });
      const template = single(resources, "aws:ec2/launchTemplate:LaunchTemplate");
      assert.deepStrictEqual(cr.launchTemplate, {
        launchTemplateId: template.id,
        version: "$Latest",
      });
      assert.deepStrictEqual(template.inputs.metadataOptions, {
        httpEndpoint: "enabled",
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        httpProtocolIpv6: "disabled",
        instanceMetadataTags: "disabled",
      });
      const userData = Buffer.from(String(template.inputs.userData), "base64").toString();
      assert.strictEqual(userData, IMDS_BLOCK_USER_DATA);
      assert.deepStrictEqual(cr.ec2Configurations, EC2_CONFIGURATION);
    }
  });

  it("writes the metadata block as MIME multi-part user data, as Batch requires", () => {
    const userData = IMDS_BLOCK_USER_DATA;
    const boundary = /boundary="([^"]+)"/.exec(userData)?.[1];
    assert.ok(boundary, "a multipart boundary");
    assert.match(userData, /^MIME-Version: 1\.0\nContent-Type: multipart\/mixed; boundary="/);
    const parts = userData.split(`--${boundary}`);
    assert.strictEqual(parts.length, 3, "one part between the opening and closing boundary");
    assert.ok(parts[2].startsWith("--"), "a closing boundary");
    assert.match(parts[1], /Content-Type: text\/cloud-boothook/);
    assert.match(parts[1], /\n#cloud-boothook\n#!\/bin\/bash\n/);
    // Root (uid 0: the ECS agent) keeps access; every other uid is dropped on the way out.
    assert.strictEqual(
      IMDS_BLOCK_RULE,
      "OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j DROP",
    );
    assert.ok(
      parts[1].includes(
        `iptables -w -C ${IMDS_BLOCK_RULE} 2>/dev/null || iptables -w -I ${IMDS_BLOCK_RULE}`,
      ),
    );
    assert.ok(!userData.includes("169.254.170.2"), "the job role's endpoint stays open");
  });

  it("uses the AL2023 image for plain and NVIDIA GPU instances alike", () => {
    assert.deepStrictEqual(EC2_CONFIGURATION, [
      { imageType: "ECS_AL2023" },
      { imageType: "ECS_AL2023_NVIDIA" },
    ]);
  });

  it("keeps computeResources.tags to the fixed instance tags, the resource tags separate", async () => {
    const instanceTags = { Project: "batchpy", Stack: "t" };
    const tags = { ...instanceTags, Owner: "me" };
    const { ce, computeResources: cr } = await computeResources({ tags, instanceTags });
    assert.deepStrictEqual(cr.tags, instanceTags);
    assert.deepStrictEqual(ce.inputs.tags, tags);
  });

  it("lets running jobs finish for 30 minutes during an infrastructure update, or as configured", async () => {
    const { ce } = await computeResources({});
    assert.deepStrictEqual(ce.inputs.updatePolicy, {
      jobExecutionTimeoutMinutes: 30,
      terminateJobsOnUpdate: false,
    });
    for (const minutes of [1, 360]) {
      const { ce: custom } = await computeResources({
        computeType: "SPOT",
        updateTimeoutMinutes: minutes,
      });
      assert.deepStrictEqual(custom.inputs.updatePolicy, {
        jobExecutionTimeoutMinutes: minutes,
        terminateJobsOnUpdate: false,
      });
    }
  });

  it("sets no update policy on Fargate, which has no infrastructure updates", async () => {
    const { ce } = await computeResources({ computeType: "FARGATE" });
    assert.ok(!("updatePolicy" in ce.inputs));
    assert.throws(
      () =>
        validateComputeEnvironmentArgs("c", { computeType: "FARGATE", updateTimeoutMinutes: 60 }),
      /sets 'updateTimeoutMinutes' with 'computeType' = 'FARGATE'; 'updateTimeoutMinutes' applies to EC2 and SPOT only/,
    );
  });

  it("reports the largest placeable job from the instance types' sizes at deploy time", async () => {
    const { outputs } = await computeResources({ instanceTypes: ["m5a.large"] });
    assert.deepStrictEqual(outputs.jobLimits, {
      maxVcpus: 16,
      maxGpus: 0,
      largestJob: { vcpus: 2, memoryMiB: 7953, gpus: 0 },
      basis: ["m5a.large"],
    });
  });

  it("runs GPU jobs on g5.xlarge spot instances: 1 GPU per instance, 4 at once in 16 vCPUs", async () => {
    const { computeResources: cr, outputs } = await computeResources({
      computeType: "SPOT",
      instanceTypes: ["g5.xlarge"],
      jobGpus: 1,
    });
    assert.deepStrictEqual(cr.instanceTypes, ["g5.xlarge"]);
    assert.deepStrictEqual(cr.ec2Configurations, EC2_CONFIGURATION);
    assert.deepStrictEqual(outputs.jobLimits, {
      maxVcpus: 16,
      maxGpus: 4,
      largestJob: { vcpus: 4, memoryMiB: 15938, gpus: 1 },
      basis: ["g5.xlarge"],
    });
  });

  it("reports Fargate's largest size for Fargate environments", async () => {
    const { outputs } = await computeResources({ computeType: "FARGATE_SPOT", maxVcpus: 64 });
    assert.deepStrictEqual(outputs.jobLimits, {
      maxVcpus: 64,
      maxGpus: 0,
      largestJob: { vcpus: 16, memoryMiB: 122880, gpus: 0 },
      basis: ["FARGATE"],
    });
  });

  it("names batchpy:vpcId and batchpy:subnetIds when the account has no default VPC", async () => {
    const noDefaultVpc = (call: MockCall) =>
      call.token === "aws:ec2/getVpcs:getVpcs" ? { id: "us-east-1", ids: [] } : undefined;
    await assert.rejects(computeResources({}, noDefaultVpc), (err: Error) => {
      assert.match(err.message, /no default VPC in us-east-1 \(common under AWS Control Tower\)/);
      assert.match(err.message, /pulumi config set batchpy:vpcId vpc-/);
      assert.match(err.message, /pulumi config set --path 'batchpy:subnetIds\[0\]' subnet-/);
      return true;
    });
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
    assert.strictEqual(ofType(resources, "aws:ec2/launchTemplate:LaunchTemplate").length, 0);
  });

  it("uses a given VPC and subnets instead of the default VPC", async () => {
    const { resources, computeResources: cr } = await computeResources({
      vpcId: "vpc-1",
      subnetIds: ["subnet-a"],
    });
    assert.strictEqual(resources.filter((r) => r.type.includes("Vpc")).length, 0);
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
        /with 'computeType' = 'EC2' it must be one of BEST_FIT_PROGRESSIVE\.$/,
      ],
      [
        "BEST_FIT, saying why",
        { allocationStrategy: "BEST_FIT" },
        /'BEST_FIT'.*BEST_FIT rules out in-place infrastructure updates: changing instance types, subnets or the launch template would replace the environment and kill running jobs/,
      ],
      [
        "an instance family",
        { instanceTypes: ["m5a"] },
        /'m5a' in 'instanceTypes'; name exact types such as m5a.large/,
      ],
      ["optimal", { instanceTypes: ["optimal"] }, /'optimal' in 'instanceTypes'/],
      [
        "GPUs on Fargate",
        { computeType: "FARGATE", jobGpus: 1 },
        /'jobGpus' = 1 with 'computeType' = 'FARGATE'; Fargate has no GPUs/,
      ],
      ["GPUs on Fargate Spot", { computeType: "FARGATE_SPOT", jobGpus: 2 }, /Fargate has no GPUs/],
      [
        "GPUs with a non-GPU instance type",
        { computeType: "SPOT", instanceTypes: ["g5.xlarge", "m5a.large"], jobGpus: 1 },
        /'jobGpus' = 1 but 'instanceTypes' includes m5a.large, which have no GPU/,
      ],
      [
        "more GPUs than any known type has",
        { instanceTypes: ["g5.xlarge"], jobGpus: 2 },
        /'jobGpus' = 2, more than any of g5.xlarge has \(at most 1\)/,
      ],
      ["negative GPUs", { jobGpus: -1 }, /'jobGpus' must be an integer from 0 to 16/],
      [
        "no update time",
        { updateTimeoutMinutes: 0 },
        /'updateTimeoutMinutes' must be an integer from 1 to 360/,
      ],
      ["a long update time", { updateTimeoutMinutes: 361 }, /from 1 to 360/],
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
