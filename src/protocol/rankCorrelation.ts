/**
 * Does the one-epoch proxy rank candidates as longer training does? Spearman's rank correlation between the proxy
 * accuracy and the re-checked accuracy, with a 95 % interval from Fisher's z transform (z = atanh(rho), standard
 * error 1 / sqrt(n - 3)), and the pairs the dashboard plots. Pure functions: no DOM, no Node.
 */
import type { Outcome } from './messages';

/** Two-sided 95 % normal quantile. */
const Z95 = 1.959963984540054;

export interface Correlation {
  /** Pairs used (both values finite). */
  readonly n: number;
  /** Spearman's rho, null with fewer than 2 pairs or when either side has no spread. */
  readonly rho: number | null;
  /** 95 % interval for rho (Fisher z), null with fewer than 4 pairs (the standard error needs n > 3). */
  readonly ci: readonly [number, number] | null;
}

/** 1-based ranks; tied values share the mean of the ranks they span. */
export function ranks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const out = new Array<number>(values.length).fill(0);
  let start = 0;
  while (start < order.length) {
    const value = order[start]?.value;
    let end = start;
    while (order[end + 1]?.value === value) end++;
    const rank = (start + end) / 2 + 1;
    for (const entry of order.slice(start, end + 1)) out[entry.index] = rank;
    start = end + 1;
  }
  return out;
}

function pearson(xs: readonly number[], ys: readonly number[]): number | null {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  xs.forEach((x, i) => {
    const y = ys[i] ?? my;
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  });
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rho of paired values (Pearson's r of their ranks, so ties are handled), with its Fisher-z interval. */
export function spearman(xs: readonly number[], ys: readonly number[]): Correlation {
  if (xs.length !== ys.length) throw new Error(`spearman: ${xs.length} x values for ${ys.length} y values`);
  const pairs = xs.map((x, i) => [x, ys[i] ?? Number.NaN] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const n = pairs.length;
  if (n < 2) return { n, rho: null, ci: null };
  const rho = pearson(ranks(pairs.map(([x]) => x)), ranks(pairs.map(([, y]) => y)));
  if (rho === null) return { n, rho: null, ci: null };
  const clamped = Math.max(-1, Math.min(1, rho));
  if (n < 4) return { n, rho: clamped, ci: null };
  const z = Math.atanh(clamped);
  const half = Z95 / Math.sqrt(n - 3);
  return { n, rho: clamped, ci: [Math.tanh(z - half), Math.tanh(z + half)] };
}

/** One `candidate.rechecked` as the dashboard keeps it. */
export interface RecheckRow {
  readonly cycle: number;
  readonly candidate: string;
  readonly recheck: string;
  readonly epochs: number;
  readonly seed: number;
  readonly outcome: Outcome;
  readonly accuracy: number | null;
}

/** A candidate's proxy figure beside its re-checked accuracy (the mean over seeds at its longest re-check). */
export interface RecheckPoint {
  readonly cycle: number;
  readonly candidate: string;
  readonly proxy: number;
  readonly rechecked: number;
  readonly epochs: number;
  readonly seeds: number;
}

export interface RecheckSummary {
  readonly points: readonly RecheckPoint[];
  readonly overall: Correlation;
  readonly perCycle: readonly { readonly cycle: number; readonly correlation: Correlation }[];
}

/**
 * The plot's points and the correlations, from the re-checks and each candidate's one-epoch accuracy (`proxyOf`
 * returns null for a candidate with none). Failed re-checks are left out of the means.
 */
export function summarizeRechecks(
  rechecks: readonly RecheckRow[],
  proxyOf: (cycle: number, candidate: string) => number | null,
): RecheckSummary {
  const byCandidate = new Map<string, RecheckRow[]>();
  for (const r of rechecks) {
    if (r.accuracy === null) continue;
    const key = `${r.cycle}/${r.candidate}`;
    byCandidate.set(key, [...(byCandidate.get(key) ?? []), r]);
  }
  const points: RecheckPoint[] = [];
  for (const rows of byCandidate.values()) {
    const first = rows[0];
    if (first === undefined) continue;
    const { cycle, candidate } = first;
    const proxy = proxyOf(cycle, candidate);
    if (proxy === null) continue;
    const epochs = Math.max(...rows.map((r) => r.epochs));
    const longest = rows.filter((r) => r.epochs === epochs);
    const rechecked = longest.reduce((a, r) => a + (r.accuracy ?? 0), 0) / longest.length;
    points.push({ cycle, candidate, proxy, rechecked, epochs, seeds: longest.length });
  }
  points.sort((a, b) => a.cycle - b.cycle || a.candidate.localeCompare(b.candidate));
  const cycles = [...new Set(points.map((p) => p.cycle))];
  const correlate = (ps: readonly RecheckPoint[]) => spearman(ps.map((p) => p.proxy), ps.map((p) => p.rechecked));
  return {
    points,
    overall: correlate(points),
    perCycle: cycles.map((cycle) => ({ cycle, correlation: correlate(points.filter((p) => p.cycle === cycle)) })),
  };
}
