/**
 * Reading resource properties: during preview @pulumi/policy's proxy throws `UnknownValueError`
 * on an unknown value, which becomes `UNKNOWN`, so a policy skips what it cannot decide yet (it
 * runs again at `pulumi up`).
 */
import { UnknownValueError } from "@pulumi/policy";

export const UNKNOWN: unique symbol = Symbol("unknown");
export type Unknown = typeof UNKNOWN;

/** `UNKNOWN` if a step is unknown, `undefined` if one is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") {
      return current === UNKNOWN ? UNKNOWN : undefined;
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
  return current;
}

export function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

export function keysOf(value: unknown): string[] {
  return value !== null && typeof value === "object" ? Object.keys(value) : [];
}

/** A single value is a list of one. */
export function elements(value: unknown): unknown[] | Unknown {
  if (!Array.isArray(value)) {
    return value === UNKNOWN ? UNKNOWN : given(value) ? [value] : [];
  }
  // Indexes, not `value.map`: the proxy throws on reading an unknown element.
  return Array.from({ length: value.length }, (_, i) => at(value, i));
}

export function stringList(value: unknown): string[] | Unknown {
  const items = elements(value);
  return items === UNKNOWN || items.includes(UNKNOWN)
    ? UNKNOWN
    : items.filter((item): item is string => typeof item === "string");
}

/** AWS would reject the resource too. */
export class InvalidJson {
  constructor(readonly error: string) {}
}

export function jsonDocument(value: unknown): unknown {
  if (typeof value !== "string") {
    return value;
  }
  try {
    return JSON.parse(value) as unknown;
  } catch (err) {
    return new InvalidJson((err as Error).message);
  }
}

/** A numeric string counts, as for AWS. */
export function numberAt(value: unknown, ...path: string[]): number | undefined | Unknown {
  const found = at(value, ...path);
  if (found === UNKNOWN || typeof found === "number") {
    return found;
  }
  const text = typeof found === "string" ? found.trim() : "";
  return text !== "" && Number.isFinite(Number(text)) ? Number(text) : undefined;
}

export function show(value: unknown): string {
  return value === undefined ? "(not set)" : JSON.stringify(value);
}
