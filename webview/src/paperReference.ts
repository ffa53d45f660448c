/**
 * The per-cycle results the paper reports (docs/METHOD.md, "Reported results (per cycle)"), shown beside the run's own
 * numbers as a toggleable reference. A unit test checks these against that table so a typo cannot hide here.
 */
export interface PaperRow {
  readonly cycle: number;
  readonly validPct: number;
  readonly bestAcc: number;
  readonly meanAcc: number;
  readonly atLeast40Pct: number;
  readonly uniqueModels: number;
  readonly totalTrainPrompts: number;
}

export const PAPER_ROWS: readonly PaperRow[] = [
  { cycle: 1, validPct: 44.0, bestAcc: 47.78, meanAcc: 28.06, atLeast40Pct: 2.04, uniqueModels: 1, totalTrainPrompts: 1698 },
  { cycle: 5, validPct: 32.0, bestAcc: 49.13, meanAcc: 29.88, atLeast40Pct: 6.82, uniqueModels: 9, totalTrainPrompts: 1724 },
  { cycle: 10, validPct: 53.8, bestAcc: 55.48, meanAcc: 37.7, atLeast40Pct: 38.04, uniqueModels: 18, totalTrainPrompts: 1785 },
  { cycle: 15, validPct: 66.8, bestAcc: 58.6, meanAcc: 47.4, atLeast40Pct: 80.7, uniqueModels: 34, totalTrainPrompts: 1911 },
  { cycle: 18, validPct: 59.1, bestAcc: 63.98, meanAcc: 50.99, atLeast40Pct: 96.81, uniqueModels: 38, totalTrainPrompts: 2025 },
  { cycle: 22, validPct: 41.8, bestAcc: 57.62, meanAcc: 49.48, atLeast40Pct: 92.86, uniqueModels: 30, totalTrainPrompts: 2154 },
];

/** The paper's 22-cycle mean valid rate and its Wilson 95% interval, for the summary line. */
export const PAPER_VALID_SUMMARY = { meanPct: 50.6, ci: [45.0, 56.1] as const, peakPct: 74.5 };
