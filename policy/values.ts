/**
 * Reading resource properties: during preview an unknown value arrives as a sentinel string,
 * or the proxy throws `UnknownValueError`. Both become `UNKNOWN`, so a policy skips what it
 * cannot decide yet (it runs again at `pulumi up`).
 */
import { UnknownValueError } from "@pulumi/policy";

/** The engine's unknown placeholders by type, as in @pulumi/policy's `proxy.js`. */
export const UNKNOWN_SENTINELS = {
  boolean: "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
  number: "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  string: "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
  array: "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
  asset: "030794c1-ac77-496b-92df-f27374a8bd58",
  archive: "e48ece36-62e2-4504-bad9-02848725956a",
  object: "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
} as const;

export const UNKNOWN: unique symbol = Symbol("unknown");
export type Unknown = typeof UNKNOWN;

export function isUnknown(value: unknown): value is Unknown {
  return value === UNKNOWN || Object.values<unknown>(UNKNOWN_SENTINELS).includes(value);
}

/** `value[path[0]][path[1]]…`: `UNKNOWN` if a step is unknown, `undefined` if one is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (isUnknown(current) || current === null || typeof current !== "object") {
      return isUnknown(current) ? UNKNOWN : undefined;
    }
    try {
      current = (current as Record<string | number, unknown>)[key];
    } catch (err) {
      if (err instanceof UnknownValueError) {
        return UNKNOWN;
      }
      throw err;
    }
  }
  return isUnknown(current) ? UNKNOWN : current;
}

/** Whether a property holds a value: neither absent nor null. */
export function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** An object's keys, or a list's indexes; `[]` for anything else. */
export function keysOf(value: unknown): string[] {
  return value !== null && typeof value === "object" ? Object.keys(value) : [];
}

/** A list property's elements, each read through {@link at}; a single value is a list of one. */
export function elements(value: unknown): unknown[] | Unknown {
  if (isUnknown(value) || !Array.isArray(value)) {
    return isUnknown(value) ? UNKNOWN : given(value) ? [value] : [];
  }
  // Indexes, not `value.map`: the proxy throws on reading an unknown element.
  return Array.from({ length: value.length }, (_, i) => at(value, i));
}

/** A string, or a list of strings, as IAM documents allow; `UNKNOWN` if any part is. */
export function stringList(value: unknown): string[] | Unknown {
  const items = elements(value);
  if (items === UNKNOWN || items.some(isUnknown)) {
    return UNKNOWN;
  }
  return items.filter((item): item is string => typeof item === "string");
}

/** A JSON property that did not parse; AWS would reject the resource too. */
export class InvalidJson {
  constructor(readonly error: string) {}
}

/** A JSON document property: parsed if a string, as is if an object, `UNKNOWN` while unknown. */
export function jsonDocument(value: unknown): unknown {
  if (isUnknown(value) || typeof value !== "string") {
    return isUnknown(value) ? UNKNOWN : value;
  }
  try {
    return JSON.parse(value) as unknown;
  } catch (err) {
    return new InvalidJson((err as Error).message);
  }
}

/** A number property (a numeric string counts, as for AWS): `undefined` if absent. */
export function numberAt(value: unknown, ...path: string[]): number | undefined | Unknown {
  const found = at(value, ...path);
  if (found === UNKNOWN || typeof found === "number") {
    return found;
  }
  const text = typeof found === "string" ? found.trim() : "";
  return text !== "" && Number.isFinite(Number(text)) ? Number(text) : undefined;
}

/** A value for a message: strings quoted, everything else as JSON. */
export function show(value: unknown): string {
  return value === undefined ? "(not set)" : JSON.stringify(value);
}
