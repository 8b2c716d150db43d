/**
 * On an old Node the AWS SDK's first client emits a long `NodeVersionSupportWarning`; the tool
 * says it in one line, once per command. `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true`
 * silences both.
 */
import type { OutStream } from "./context";

/** The current Active LTS. */
export const RECOMMENDED_NODE = 26;

/** End-of-life dates of the lines the SDK warns about (nodejs/Release schedule). */
const END_OF_LIFE = new Map([
  ["18", "2025-04-30"],
  ["20", "2026-04-30"],
]);

export function nodeSupportNotice(text: string, version: string): string | undefined {
  if (!text.startsWith("NodeVersionSupportWarning:")) {
    return undefined;
  }
  const [, when, required = "22"] =
    /published (after [^\n]*?)\s+will require node >=(\d+)/.exec(text) ?? [];
  const eol = END_OF_LIFE.get(/^v?(\d+)/.exec(version)?.[1] ?? "");
  const releases = when === undefined ? "new AWS SDK releases" : `AWS SDK releases ${when}`;
  const why =
    eol !== undefined
      ? `Node ${version} reached end of life on ${eol}, and ${releases} need Node >=${required}`
      : `${releases} need Node >=${required} (this is ${version})`;
  return (
    `note: ${why}: move to Node ${RECOMMENDED_NODE} (the Active LTS) or at least ` +
    `${required} (README: "Supported Node.js versions").`
  );
}

export function replaceSdkNodeWarning(stderr: OutStream, version: string = process.version) {
  const original = process.emitWarning;
  let said = false;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]): void => {
    const text = typeof warning === "string" ? warning : warning.message;
    const notice = nodeSupportNotice(text, version);
    if (notice === undefined) {
      (original as (w: string | Error, ...r: unknown[]) => void).call(process, warning, ...rest);
    } else if (!said) {
      said = true;
      stderr.write(`${notice}\n`);
    }
  }) as typeof process.emitWarning;
  return () => {
    process.emitWarning = original;
  };
}
