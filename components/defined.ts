/**
 * Objects without their undefined properties, in one place instead of
 * `...(x !== undefined ? { x } : {})` at every optional field.
 */

/** `T` with the keys whose value may be undefined made optional and never undefined. */
export type DefinedOnly<T> = {
  [K in keyof T as undefined extends T[K] ? never : K]: T[K];
} & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/**
 * `values` without the keys whose value is undefined: `{ a: 1, b: undefined }` gives
 * `{ a: 1 }`. For objects whose shape shows (compared whole, listed with `Object.keys`,
 * spread over defaults, passed as a child's environment); JSON.stringify already leaves
 * undefined out.
 */
export function definedOnly<T extends object>(values: T): DefinedOnly<T> {
  const defined: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) {
      defined[key] = value;
    }
  }
  return defined as DefinedOnly<T>;
}
