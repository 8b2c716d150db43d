/**
 * One policy check: what the engine does with a pack during `pulumi preview`, minus the
 * cloud. Configure the pack, send it every resource (`Analyze`), then the whole stack
 * (`AnalyzeStack`), and collect its diagnostics.
 */
import { PolicyPackConfig, ReconciledConfig, reconcilePolicyPackConfig } from "./policy-config";
import {
  PackInfo,
  PolicyPackProcess,
  StackIdentity,
  StartOptions,
  startPolicyPack,
} from "./pack-process";
import { AnalyzedResource, Diagnostic } from "./wire";

export interface PolicyCheckOptions {
  readonly stack: StackIdentity;
  /** Every resource the program registered, components included, in registration order. */
  readonly resources: readonly AnalyzedResource[];
  /** The `--policy-pack-config` settings. @default none */
  readonly policyConfig?: PolicyPackConfig;
  /** Where `policyConfig` came from, for messages. */
  readonly policyConfigSource?: string;
}

export interface PolicyCheckResult {
  readonly pack: PackInfo;
  /** The config the pack ran with: every policy's level and settings. */
  readonly config: ReconciledConfig;
  /** Config problems the engine would ignore too (e.g. an unknown policy name). */
  readonly warnings: readonly string[];
  /** Resource diagnostics in resource order, then the stack's. */
  readonly diagnostics: readonly Diagnostic[];
  readonly resourcesAnalyzed: number;
}

/** Runs the check against a started pack. */
export async function checkWithPack(
  pack: PolicyPackProcess,
  options: PolicyCheckOptions,
): Promise<PolicyCheckResult> {
  const { config, warnings } = reconcilePolicyPackConfig(
    pack.info.policies,
    pack.info.initialConfig,
    options.policyConfig ?? {},
    options.policyConfigSource,
  );
  await pack.configureStack(options.stack);
  await pack.configure(config);
  // The engine analyzes each resource as the program registers it, many at once.
  const perResource = await Promise.all(options.resources.map((r) => pack.analyze(r)));
  const stack = await pack.analyzeStack(options.resources);
  return {
    pack: pack.info,
    config,
    warnings,
    diagnostics: [...perResource.flat(), ...stack],
    resourcesAnalyzed: options.resources.length,
  };
}

/** Starts the pack, runs the check, and stops the pack whatever happens. */
export async function runPolicyCheck(
  options: PolicyCheckOptions & Omit<StartOptions, "stack">,
): Promise<PolicyCheckResult> {
  const pack = await startPolicyPack({ ...options, stack: options.stack });
  try {
    return await checkWithPack(pack, options);
  } finally {
    await pack.stop();
  }
}

/** The number of diagnostics at each level that blocks or warns. */
export function countByLevel(diagnostics: readonly Diagnostic[]): {
  mandatory: number;
  advisory: number;
} {
  return {
    mandatory: diagnostics.filter((d) => d.enforcementLevel === "mandatory").length,
    advisory: diagnostics.filter((d) => d.enforcementLevel === "advisory").length,
  };
}
