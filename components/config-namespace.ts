/** The namespace of this project's `Pulumi.<stack>.yaml` keys; no imports, for `policy:check`. */
export const CONFIG_NAMESPACE = "batchpy";
