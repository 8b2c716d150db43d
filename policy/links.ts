/**
 * Which resource a property refers to, for stack policies. During preview a reference to a
 * resource being created (a bucket's id, a compute environment's ARN) is unknown, but the
 * engine still tells the policy which resources each property depends on
 * (`propertyDependencies`); once values are known they can be compared too.
 */
import { PolicyResource } from "@pulumi/policy";
import { UNKNOWN, Unknown, at, isUnknown } from "./values";

/** Every string in a property (nested lists and objects included); unknown parts as `UNKNOWN`. */
function leaves(value: unknown): (string | Unknown)[] {
  if (isUnknown(value)) {
    return [UNKNOWN];
  }
  if (typeof value === "string") {
    return [value];
  }
  if (value === null || typeof value !== "object") {
    return [];
  }
  // Indexes, not `value.map`: reading an unknown element through the proxy would throw.
  const keys: (string | number)[] = Array.isArray(value)
    ? Array.from({ length: value.length }, (_, i) => i)
    : Object.keys(value as Record<string, unknown>);
  return keys.flatMap((key: string | number) => leaves(at(value, key)));
}

/** The names a resource can be referred to by: its ARN, physical name, bucket name, id. */
function identifiers(resource: PolicyResource): string[] {
  const ids: string[] = [];
  for (const key of ["arn", "name", "bucket", "id"]) {
    const value = at(resource.props, key);
    if (typeof value === "string" && value !== "" && !isUnknown(value)) {
      ids.push(value);
    }
  }
  return ids;
}

/**
 * Whether property `key` of `from` refers to `to`: `true` if it depends on `to` or holds one
 * of its identifiers (an ARN ending in `/<name>` counts), `false` if not, `UNKNOWN` if part
 * of the value is unknown and the engine gave no dependencies to tell where it comes from.
 */
export function refersTo(from: PolicyResource, key: string, to: PolicyResource): boolean | Unknown {
  const dependencies = from.propertyDependencies[key] ?? [];
  if (dependencies.some((dependency) => dependency.urn === to.urn)) {
    return true;
  }
  const ids = identifiers(to);
  const values = leaves(at(from.props, key));
  const matches = values.some(
    (value) => value !== UNKNOWN && ids.some((id) => value === id || value.endsWith(`/${id}`)),
  );
  if (matches) {
    return true;
  }
  // An unknown value comes from the resources it depends on; with none listed, it could be `to`.
  return values.includes(UNKNOWN) && dependencies.length === 0 ? UNKNOWN : false;
}
