/** `T` with the keys whose value may be undefined made optional and never undefined. */
export type DefinedOnly<T> = {
  [K in keyof T as undefined extends T[K] ? never : K]: T[K];
} & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/**
 * `values` without its undefined properties (`{ a: 1, b: undefined }` gives `{ a: 1 }`), in
 * one place instead of `...(x !== undefined ? { x } : {})` at every optional field.
 */
export function definedOnly<T extends object>(values: T): DefinedOnly<T> {
  const defined = Object.entries(values).filter(([, value]) => value !== undefined);
  return Object.fromEntries(defined) as DefinedOnly<T>;
}
