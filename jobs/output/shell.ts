/** Shell quoting for the commands the tool prints for the user to run. */

/** `s` as one POSIX shell word: left as is when safe, else in single quotes. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
