/**
 * A call a command can do without: what the credentials may not call (or AWS would not
 * answer) is recorded, named to the user, and the rest still shown.
 */
import { describeError } from "../errors";
import type { Unavailable } from "../output/why-print";

/** Runs one optional call; a failure is recorded in `unavailable` and gives undefined. */
export async function optional<T>(
  call: string,
  run: () => Promise<T>,
  unavailable: Unavailable[],
): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    // The SDK marks what AWS answered or it gave up on; anything else is a bug, not a gap.
    const metadata = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
    if (metadata === undefined) {
      throw err;
    }
    const denied =
      metadata.httpStatusCode === 403 || /AccessDenied|UnauthorizedOperation/.test(String(err));
    unavailable.push({ call, error: describeError(err), denied });
    return undefined;
  }
}
