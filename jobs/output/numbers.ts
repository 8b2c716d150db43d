/** How the tool prints a count or a set number, everywhere: `25,001`, the same on every machine. */
export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}

/** A bound in dollars and cents, rounded up: a figure shown as "at most" must not undercut. */
export function formatBoundUsd(usd: number): string {
  const cents = Math.max(0, Math.ceil(usd * 100 - 1e-6)) / 100;
  return `$${cents.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
