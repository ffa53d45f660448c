/** Histogram and scatter data for the novelty view: pure, so the unit tests can check bins against the fixture. */
import type { CandidateRow } from '../../src/protocol/dashboardState';

export const HISTOGRAM_BINS = 20;

export interface HistogramBin {
  /** Bin centre on the Jaccard axis. */
  readonly x: number;
  readonly y: number;
}

/** Counts each candidate's highest Jaccard into equal bins over [0, 1]; 1.0 falls into the last bin. */
export function jaccardHistogram(rows: readonly CandidateRow[], cycle: number | null, bins = HISTOGRAM_BINS): HistogramBin[] {
  const counts = new Array<number>(bins).fill(0);
  for (const row of rows) {
    if (row.maxJaccard === null || (cycle !== null && row.cycle !== cycle)) continue;
    const bin = Math.min(bins - 1, Math.floor(row.maxJaccard * bins));
    counts[bin] = (counts[bin] ?? 0) + 1;
  }
  return counts.map((y, i) => ({ x: (i + 0.5) / bins, y }));
}

export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  readonly cycle: number;
  readonly id: string;
  readonly nearest: string | null;
}

/** Trained candidates as (highest Jaccard, accuracy) points. */
export function accuracyVsNovelty(rows: readonly CandidateRow[], cycle: number | null): ScatterPoint[] {
  const points: ScatterPoint[] = [];
  for (const row of rows) {
    if (row.maxJaccard === null || row.accuracy === null || (cycle !== null && row.cycle !== cycle)) continue;
    points.push({ x: row.maxJaccard, y: row.accuracy, cycle: row.cycle, id: row.id, nearest: row.nearest });
  }
  return points;
}
