/**
 * `batchpy jobs` as the bin runs it, plus faults, for tests that need a real process to kill:
 *
 *   node -r ./bin/register.js test/helpers/cli-with-faults.ts '<FaultSpec JSON>' submit …
 *
 * The product reads no test variable: the faults reach it only through the context built here.
 */
import { main } from "../../jobs/cli";
import { createAwsClients } from "../../jobs/aws/api";
import type { CrashPoint, Faults } from "../../jobs/aws/exactly-once";

export interface FaultSpec {
  /** SIGKILL this process the `at`-th time any job reaches `point`. */
  readonly crash?: { readonly point: CrashPoint; readonly at: number };
  readonly listingWaitMs?: number;
  readonly submitTimeoutMs?: number;
}

function faultsOf(spec: FaultSpec): Faults {
  const { crash, ...waits } = spec;
  let seen = 0;
  return {
    ...waits,
    checkpoint: (point) => {
      if (point === crash?.point && ++seen === crash.at) {
        process.kill(process.pid, "SIGKILL");
      }
    },
  };
}

const [spec = "{}", ...argv] = process.argv.slice(2);
const faults = faultsOf(JSON.parse(spec) as FaultSpec);
void main(argv, (ctx) => ({
  ...ctx,
  faults,
  // Unpaced: the local servers throttle nothing unless a test asks them to.
  clients: (region) =>
    createAwsClients({
      region,
      submitTimeoutMs: faults.submitTimeoutMs,
      batchCallsPerSecond: Infinity,
    }),
}));
