/**
 * The bucket's three areas, shared by the job definition, the job role, the entrypoint's
 * environment and the jobs tool; the values live in container/contract.json.
 */
export { BUCKET_PREFIXES } from "./contract";
