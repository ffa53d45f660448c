/**
 * How one candidate looks in a list: codicon id, one-line description, tooltip. Shared by the tree and anything
 * else that lists candidates (quick picks, CodeLens titles), so they agree. Pure; never throws.
 */
import { describeEvaluation, letThrough, measureText } from '../../protocol/candidateFacts';
import { originLabel } from '../candidateSubmit';
import type { CandidateStatus, CandidateView } from './runView';

/** Codicon ids (https://microsoft.github.io/vscode-codicons/); `~spin` animates in VS Code. */
export const STATUS_ICON: Readonly<Record<CandidateStatus, string>> = {
  started: 'circle-outline',
  generating: 'loading~spin',
  generated: 'watch',
  invalid: 'error',
  valid: 'watch',
  duplicate: 'copy',
  novel: 'beaker',
  trained: 'pass',
  failed: 'warning',
};

export const STATUS_LABEL: Readonly<Record<CandidateStatus, string>> = {
  started: 'queued',
  generating: 'generating',
  generated: 'generated, awaiting checks',
  invalid: 'invalid',
  valid: 'valid, awaiting the novelty check',
  duplicate: 'not novel',
  novel: 'novel, awaiting training',
  trained: 'trained',
  failed: 'failed in training',
};

/** Its status in words, saying when a trained (or failed) near-duplicate was let through after its retries. */
export function statusLabel(candidate: CandidateView): string {
  const through = letThrough({ novel: candidate.novel, maxJaccard: null, nearest: null, attempts: null, evaluated: candidate.step === 'evaluated' });
  return through ? `${STATUS_LABEL[candidate.status]} (near-duplicate let through)` : STATUS_LABEL[candidate.status];
}

/** Selected candidates get a star whatever their status: that is what a reviewer scans for. */
export function candidateIcon(candidate: CandidateView): string {
  return candidate.selected ? 'star-full' : STATUS_ICON[candidate.status];
}

export function formatPercent(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(1)}%`;
}

/** e.g. "52.1% · J 0.31 · selected · accepted" or "shape_error" or "generating 1.2k chars". */
export function candidateDescription(candidate: CandidateView): string {
  const parts: string[] = [];
  switch (candidate.status) {
    case 'generating':
      parts.push(`generating ${formatChars(candidate.codeChars)}`);
      break;
    case 'invalid':
    case 'failed':
      parts.push(candidate.outcome ?? candidate.status);
      break;
    case 'trained':
      parts.push(formatPercent(candidate.accuracy));
      if (candidate.evaluatedOn?.data === 'synthetic') parts.push('synthetic');
      if (candidate.novel === false) parts.push('near-duplicate let through');
      break;
    default:
      parts.push(STATUS_LABEL[candidate.status]);
  }
  if (candidate.maxJaccard !== null) parts.push(`J ${candidate.maxJaccard.toFixed(2)}`);
  if (candidate.selected) parts.push('selected');
  // A verdict that missed its cycle's selection says so: it changes the next fine-tune, not this cycle's adapter.
  const late = candidate.verdictLate ? ' from the next fine-tune' : '';
  if (candidate.verdict === 'accept') parts.push(`accepted${late}`);
  if (candidate.verdict === 'reject') parts.push(`rejected${late}`);
  if (candidate.annotations.length > 0) parts.push(`${candidate.annotations.length} note${candidate.annotations.length === 1 ? '' : 's'}`);
  if (candidate.origin === 'human') parts.unshift('human-written');
  return parts.join(' · ');
}

/** What the candidate cost: its generation (and the adapter that wrote it), validation and evaluation device time. */
export function costLine(candidate: CandidateView): string | null {
  const parts: string[] = [];
  const g = candidate.generation;
  if (g && candidate.origin !== 'human') {
    const writer = candidate.writer === undefined ? '' : ` by ${candidate.writer ?? 'the base model'}`;
    parts.push(`generated${writer}: ${g.tokens.toLocaleString('en-US')} tokens in ${g.seconds.toFixed(1)} s`);
  }
  if (candidate.validationSeconds !== undefined) parts.push(`validated in ${candidate.validationSeconds.toFixed(1)} s`);
  if (candidate.deviceSeconds !== undefined) {
    parts.push(`evaluated: ${candidate.deviceSeconds.toFixed(1)} ${candidate.device === 'gpu' ? 'GPU' : 'CPU'}-s`);
  }
  return parts.length ? `cost: ${parts.join(', ')}` : null;
}

/** Multi-line plain text; the UI may render it as Markdown (no characters here need escaping beyond ids). */
export function candidateTooltip(candidate: CandidateView): string {
  const lines = [`${candidate.id} (cycle ${candidate.cycle}): ${statusLabel(candidate)}`];
  if (candidate.origin === 'human') lines.push(originLabel(candidate));
  if (candidate.outcome && candidate.outcome !== 'ok') {
    lines.push(`outcome: ${candidate.outcome}${candidate.line !== null ? ` at line ${candidate.line}` : ''}`);
  }
  if (candidate.message) lines.push(candidate.message.length > 300 ? `${candidate.message.slice(0, 300)}…` : candidate.message);
  if (candidate.accuracy !== null) lines.push(`accuracy: ${formatPercent(candidate.accuracy)} (${describeEvaluation(candidate.evaluatedOn)})`);
  if (candidate.params !== null) lines.push(`parameters: ${candidate.params.toLocaleString('en-US')}`);
  if (candidate.maxJaccard !== null) {
    lines.push(`max Jaccard: ${candidate.maxJaccard.toFixed(3)}${candidate.nearest ? ` (nearest: ${candidate.nearest})` : ''}`);
  }
  for (const measure of candidate.noveltyMeasures) lines.push(`novelty, ${measureText(measure)}`);
  if (candidate.noveltyExplanation) lines.push(candidate.noveltyExplanation);
  const cost = costLine(candidate);
  if (cost) lines.push(cost);
  if (candidate.selected) lines.push(`selected (${candidate.selectReason ?? 'rule unknown'})`);
  if (candidate.verdict) {
    lines.push(`verdict: ${candidate.verdict}${candidate.verdictLate ? ', given after the cycle was selected: it counts from the next fine-tune onward' : `, counts in cycle ${candidate.cycle}'s selection`}`);
  }
  for (const note of candidate.annotations) lines.push(`note: ${note.text}${note.tags.length ? ` [${note.tags.join(', ')}]` : ''}`);
  return lines.join('\n');
}

function formatChars(chars: number): string {
  return chars >= 1000 ? `${(chars / 1000).toFixed(1)}k chars` : `${chars} chars`;
}
