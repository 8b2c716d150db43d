/**
 * Fault injection for the exactly-once tests, and nothing else: `BATCHPY_TEST_HOOKS` (JSON)
 * is read only by the CLI's default context, and the tests are the only thing that set it.
 * Without it every hook is absent and the tool behaves as documented.
 *
 *   {"crash": {"point": "intent-durable", "at": 3}}  SIGKILL this process the 3rd time an
 *                                                      intent reaches the disk, before its
 *                                                      request is sent
 *   {"crash": {"point": "answer-received", "at": 1}} ... after SubmitJob answered, before
 *                                                      the job ID is written
 *   {"listingWaitMs": 300, "submitTimeoutMs": 500}    shorter waits, so tests run in seconds
 *   {"noIntents": true}                               the benchmark's "without intents" run
 */
import { z } from "zod";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

/** Where a crash can be injected, in the order a submission passes them. */
const CRASH_POINTS = ["intent-durable", "answer-received"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface TestHooks {
  /**
   * Called at each crash point; may never return (the process is killed) or never resolve
   * (an in-process test freezing the run where it stands).
   */
  readonly checkpoint?: (point: CrashPoint, jobName: string) => void | Promise<void>;
  /** Replaces LISTING_WAIT_MS. */
  readonly listingWaitMs?: number;
  /** Replaces SUBMIT_TIMEOUT_MS. */
  readonly submitTimeoutMs?: number;
  /** Skip intent lines (and their fsync): the benchmark's baseline, never a user setting. */
  readonly noIntents?: boolean;
}

const HooksSchema = z.strictObject({
  crash: z.strictObject({ point: z.enum(CRASH_POINTS), at: z.number().int().min(1) }).optional(),
  listingWaitMs: z.number().int().min(0).optional(),
  submitTimeoutMs: z.number().int().min(1).optional(),
  noIntents: z.boolean().optional(),
});

/** The hooks `BATCHPY_TEST_HOOKS` asks for; undefined when it is not set. */
export function hooksFromEnv(env: NodeJS.ProcessEnv): TestHooks | undefined {
  const raw = env[VARS.testHooks];
  if (raw === undefined || raw === "") {
    return undefined;
  }
  const spec = HooksSchema.parse(JSON.parse(raw));
  const crash = spec.crash;
  let seen = 0;
  return {
    ...definedOnly({ listingWaitMs: spec.listingWaitMs, submitTimeoutMs: spec.submitTimeoutMs }),
    ...(spec.noIntents === true ? { noIntents: true } : {}),
    ...(crash !== undefined
      ? {
          checkpoint: (point: CrashPoint) => {
            if (point === crash.point && ++seen === crash.at) {
              process.kill(process.pid, "SIGKILL");
            }
          },
        }
      : {}),
  };
}
