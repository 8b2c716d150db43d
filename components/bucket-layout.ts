/**
 * The bucket's three areas, shared by the job definition, the job role, the entrypoint's
 * environment and the jobs tool. No imports: the jobs CLI loads this without Pulumi.
 */
export const BUCKET_PREFIXES = {
  inputs: "inputs/",
  results: "results/",
  logs: "logs/",
} as const;
