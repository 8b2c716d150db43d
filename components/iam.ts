/** A trust policy that lets one AWS service principal assume a role. */
export function assumeRolePolicyFor(service: string) {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  };
}
