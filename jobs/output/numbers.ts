/** How the tool prints a count or a set number, everywhere: `25,001`, the same on every machine. */
export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}
