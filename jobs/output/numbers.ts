/** `25,001`, the same on every machine. */
export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  const u = n < 1024 ? 0 : Math.min(Math.floor(Math.log2(n) / 10), units.length - 1);
  return u === 0 ? `${n} B` : `${(n / 1024 ** u).toFixed(1)} ${units[u]}`;
}

/** 42s, 3m05s, 2h07m; self-contained, as the report page inlines it. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined) {
    return "-";
  }
  const s = Math.round(seconds);
  const two = (n: number): string => String(n).padStart(2, "0");
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${two(s % 60)}s`
      : `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
}

/** In cents, as a bill shows it: $0.00, <$0.01, $1,234.50. */
export function formatUsd(usd: number | undefined): string {
  if (usd === undefined) {
    return "no price";
  }
  if (usd > 0 && usd < 0.005) {
    return "<$0.01";
  }
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Rounded up: a figure shown as "at most" must not undercut. */
export function formatBoundUsd(usd: number): string {
  return formatUsd(Math.max(0, Math.ceil(usd * 100 - 1e-6)) / 100);
}
