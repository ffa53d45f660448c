/**
 * A candidate's numbers with their meaning, in words: on which data an accuracy was measured, what the novelty
 * filter concluded, why it was selected. One wording for the dashboard, the tabs' headers and the tree. Pure.
 */
import type { NoveltyMeasure } from './messages';
import type { EvaluatedOn } from './runFold';

const DATA_NAME = { synthetic: 'synthetic', cifar10: 'CIFAR-10' } as const;

/** e.g. "synthetic, fast protocol, 1 epoch"; what is not known is left out ("data not recorded" when nothing is). */
export function describeEvaluation(on: EvaluatedOn | null): string {
  if (on === null || (on.data === null && on.protocol === null && on.epochs === null)) return 'data not recorded';
  const parts = [on.data === null ? 'data not recorded' : DATA_NAME[on.data]];
  if (on.protocol !== null) parts.push(`${on.protocol} protocol`);
  if (on.epochs !== null) parts.push(`${on.epochs} epoch${on.epochs === 1 ? '' : 's'}`);
  return parts.join(', ');
}

/** "41.2 % (synthetic, fast protocol, 1 epoch)", or "—" without an accuracy. */
export function formatAccuracy(accuracy: number | null, on: EvaluatedOn | null, digits = 1): string {
  return accuracy === null ? '—' : `${accuracy.toFixed(digits)} % (${describeEvaluation(on)})`;
}

export interface NoveltyFacts {
  readonly novel: boolean | null;
  readonly maxJaccard: number | null;
  readonly nearest: string | null;
  /** Sampling attempts it took (the filter at generation samples again on a near-duplicate). */
  readonly attempts: number | null;
  /** True once it went on to training (a near-duplicate that did was let through after its retries). */
  readonly evaluated: boolean;
}

/** A near-duplicate that was trained anyway: its retries ran out and it was let through. */
export function letThrough(f: NoveltyFacts): boolean {
  return f.novel === false && f.evaluated;
}

/** "novel (highest Jaccard 0.31, with X)", "near-duplicate of X at J=0.91", "… let through after 3 attempts". */
export function noveltyVerdict(f: NoveltyFacts): string {
  if (f.novel === null) return 'not checked for novelty yet';
  const j = f.maxJaccard === null ? null : f.maxJaccard.toFixed(2);
  if (f.novel) return j === null ? 'novel' : `novel (highest Jaccard ${j}${f.nearest ? `, with ${f.nearest}` : ''})`;
  const near = `near-duplicate of ${f.nearest ?? 'an earlier net'}${j === null ? '' : ` at J=${j}`}`;
  if (!letThrough(f)) return near;
  return f.attempts === null ? `${near}, let through` : `${near}, let through after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}`;
}

export type SelectReason = 'threshold' | 'fallback' | 'accepted';

export function selectReasonText(selected: boolean, reason: SelectReason | null): string {
  if (!selected) return 'not selected';
  switch (reason) {
    case 'threshold':
      return 'selected: accuracy at or above the threshold';
    case 'fallback':
      return 'selected by the fallback threshold (too few reached the main one)';
    case 'accepted':
      return 'selected: accepted by a reviewer';
    case null:
      return 'selected (rule not recorded)';
  }
}

export function formatMegabytes(mb: number | null): string {
  if (mb === null) return '—';
  return mb >= 1024 ? `${(mb / 1024).toFixed(2)} GiB` : `${mb.toFixed(0)} MiB`;
}

/** The three novelty measures by name, in the order every view lists them; `short` where a line is tight. */
export const MEASURE_LABEL: Readonly<Record<NoveltyMeasure['measure'], { long: string; short: string }>> = {
  minhash: { long: 'token MinHash-Jaccard', short: 'tokens' },
  structure: { long: 'AST structure (exact match)', short: 'AST' },
  graph: { long: 'layer graph (WL similarity)', short: 'graph' },
};

/** What a measure calls the candidate. */
export function measureSays(m: NoveltyMeasure): 'duplicate' | 'novel' {
  return m.duplicate ? 'duplicate' : 'novel';
}

/** Whether the measure is in the run's gate (decides `novel`) or only shown beside it. */
export function measureRole(m: NoveltyMeasure): 'decides' | 'shown only' {
  return m.gate ? 'decides' : 'shown only';
}

/** "layer graph (WL similarity) 0.97 with c2-003: duplicate · decides" — one measure's row in words. */
export function measureText(m: NoveltyMeasure): string {
  const nearest = m.nearest ? ` with ${m.nearest}` : '';
  return `${MEASURE_LABEL[m.measure].long} ${m.score.toFixed(2)}${nearest}: ${measureSays(m)} · ${measureRole(m)}`;
}
