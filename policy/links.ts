/**
 * Which resource a property refers to: by `propertyDependencies`, which the engine gives
 * even while the value is unknown (preview), or by the value once it is known.
 */
import { PolicyResource } from "@pulumi/policy";
import { UNKNOWN, Unknown, at, keysOf } from "./values";

function leaves(value: unknown): (string | Unknown)[] {
  if (value === UNKNOWN || typeof value === "string") {
    return [value];
  }
  // Keys, not `value.map`: the proxy throws on reading an unknown element.
  return keysOf(value).flatMap((key) => leaves(at(value, key)));
}

/** By dependency, or by holding one of `to`'s identifiers (an ARN ending in `/<name>` counts). */
export function refersTo(from: PolicyResource, key: string, to: PolicyResource): boolean | Unknown {
  const dependencies = from.propertyDependencies[key] ?? [];
  if (dependencies.some((dependency) => dependency.urn === to.urn)) {
    return true;
  }
  const ids = ["arn", "name", "bucket", "id"]
    .map((id) => at(to.props, id))
    .filter((id): id is string => typeof id === "string" && id !== "");
  const values = leaves(at(from.props, key));
  const held = (value: string | Unknown) =>
    value !== UNKNOWN && ids.some((id) => value === id || value.endsWith(`/${id}`));
  if (values.some(held)) {
    return true;
  }
  // An unknown value comes from the resources it depends on; with none listed, it could be `to`.
  return values.includes(UNKNOWN) && dependencies.length === 0 ? UNKNOWN : false;
}
