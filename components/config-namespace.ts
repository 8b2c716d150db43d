/**
 * The config namespace of this project's keys in `Pulumi.<stack>.yaml`. Its own module,
 * free of imports, so `policy:check` can read it without loading @pulumi/aws first.
 */
export const CONFIG_NAMESPACE = "batchpy";
