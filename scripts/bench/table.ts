/** One row of a bench table: p50 and p99 of `n` samples, in `unit`. */
export interface BenchRow {
  what: string;
  n: number;
  p50: number;
  p99: number;
  unit: string;
}

/** The `p`-th percentile (nearest rank) of `xs`. */
export const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** Prints the rows as a Markdown table (recorded, dated, in docs/benchmarks.md). */
export function printTable(rows: BenchRow[]): void {
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  console.log('\n| measurement | n | p50 | p99 |\n|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.what} | ${r.n} | ${fmt(r.p50)} ${r.unit} | ${fmt(r.p99)} ${r.unit} |`);
}
