/**
 * The selected candidate explained: accuracy with the data and protocol behind it, the novelty verdict in words, why
 * it was selected, its attempts, training time and peak memory. Built from its row alone (the dashboard carries no
 * code). The per-step training loss of a candidate is not shown: the sandbox reports only the final numbers.
 */
import { formatAccuracy, formatMegabytes, noveltyVerdict, selectReasonText } from '../../../src/protocol/candidateFacts';
import type { CandidateRow } from '../../../src/protocol/dashboardState';
import { h } from '../dom';
import { formatCount, formatSeconds } from '../format';

/** Label and value pairs, in the order the pane lists them; exported for tests. */
export function detailFacts(row: CandidateRow): [string, string][] {
  const evaluated = row.status === 'trained' || row.status === 'failed' || row.status === 'selected';
  const facts: [string, string][] = [
    ['Accuracy', formatAccuracy(row.accuracy, row.evaluatedOn)],
    ['Novelty', noveltyVerdict({ novel: row.novel, maxJaccard: row.maxJaccard, nearest: row.nearest, attempts: row.attempts, evaluated })],
    ['Selection', selectReasonText(row.status === 'selected', row.selectReason)],
    ['Attempts', row.attempts === null ? '—' : String(row.attempts)],
    ['Train time', formatSeconds(row.trainSeconds)],
    ['Eval time', formatSeconds(row.evalSeconds)],
    ['Peak memory', formatMegabytes(row.peakMemoryMB)],
    ['Parameters', formatCount(row.params)],
  ];
  if (row.errorClass) facts.push(['Outcome', row.errorClass]);
  return facts;
}

export function renderDetailFacts(list: HTMLElement, row: CandidateRow | undefined): void {
  if (!row) {
    list.replaceChildren();
    return;
  }
  list.replaceChildren(
    ...detailFacts(row).flatMap(([label, value]) => [
      h('dt', { text: label }),
      h('dd', { text: value, dataset: { fact: label.toLowerCase().replace(/\s+/g, '-') } }),
    ]),
  );
}
