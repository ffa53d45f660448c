/**
 * The selected candidate explained: accuracy with the data and protocol behind it, the novelty verdict in words, why
 * it was selected, its attempts, training time and peak memory, from its row; and, from code the host sends on
 * request, the shingles it shares with its nearest neighbour and its raw reply. The per-step training loss of a candidate is not shown: the sandbox reports only the final numbers.
 */
import { MEASURE_LABEL, formatAccuracy, measureRole, measureSays, formatMegabytes, noveltyVerdict, selectReasonText } from '../../../src/protocol/candidateFacts';
import type { CandidateCodeMessage } from '../../../src/protocol/dashboard';
import type { CandidateRow } from '../../../src/protocol/dashboardState';
import { SHINGLE_WIDTH, sharedRuns, sharedShingles, sharedSpans } from '../../../src/protocol/shingles';
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

/**
 * Novelty three ways: each measure's score, nearest net and verdict, whether it is in the run's gate (decides) or
 * shown only, and the backend's sentence saying which calls the candidate a duplicate and why. Empty for runs
 * recorded before the three measures.
 */
export function renderMeasures(container: HTMLElement, row: CandidateRow | undefined): void {
  if (!row || row.measures.length === 0) {
    container.replaceChildren();
    container.hidden = true;
    return;
  }
  container.hidden = false;
  const head = h('tr', {}, ['Measure', 'Score', 'Nearest', 'Says', 'Role'].map((text) => h('th', { text, attrs: { scope: 'col' } })));
  const body = row.measures.map((m) =>
    h('tr', { dataset: { measure: m.measure }, className: m.duplicate ? 'duplicate' : '' }, [
      h('th', { text: MEASURE_LABEL[m.measure].long, attrs: { scope: 'row' } }),
      h('td', { text: m.score.toFixed(3) }),
      h('td', { text: m.nearest ?? '—' }),
      h('td', { text: measureSays(m) }),
      h('td', { text: measureRole(m) }),
    ]),
  );
  container.replaceChildren(
    h('table', { className: 'data-table measures', dataset: { testid: 'novelty-measures' } }, [h('thead', {}, [head]), h('tbody', {}, body)]),
    h('p', { className: 'message', text: row.noveltyExplanation ?? '', dataset: { testid: 'novelty-explanation' } }),
  );
}

/** Shared runs listed at most; a near-duplicate of boilerplate has dozens of short ones. */
const MAX_RUNS = 12;

/** What the pane asks the host for: the dashboard holds no code. */
export interface CodeRequest {
  readonly type: 'code';
  readonly cycle: number;
  readonly candidate: string;
  readonly nearest: string | null;
}

/**
 * Why the novelty filter scored a candidate against its nearest neighbour: the 7-token shingles they share (exact
 * Jaccard, each side's share, the merged runs with their share), both codes with the shared parts highlighted, and
 * the model's raw reply beside the extracted code when the reply held more. Asks the host for the code once per
 * candidate and neighbour.
 */
export class CodeExplanation {
  readonly element: HTMLDetailsElement;
  private readonly body: HTMLElement;
  private row: CandidateRow | undefined;
  private wanted: string | null = null;

  constructor(private readonly request: (message: CodeRequest) => void) {
    this.body = h('div', { className: 'code-explanation' });
    // Closed until asked for: code comes from the host (a seed net is read on the remote machine), so it is not
    // fetched for every row the arrow keys pass; once open it follows the selection.
    this.element = h('details', { dataset: { testid: 'code-explanation' } }, [h('summary', { text: 'Code, and what it shares with its nearest neighbour' }), this.body]);
    this.element.addEventListener('toggle', () => this.follow(this.row));
  }

  /** Follows the selected row: asks for its code when open and the row, its neighbour or its code's arrival changes. */
  follow(row: CandidateRow | undefined): void {
    this.row = row;
    const written = row !== undefined && row.status !== 'started' && row.status !== 'generating';
    const want = row && written && this.element.open ? `${row.cycle}\u0000${row.id}\u0000${row.nearest ?? ''}` : null;
    if (want === this.wanted) return;
    this.wanted = want;
    if (!row || !written) {
      this.body.replaceChildren(h('p', { className: 'message', text: row ? 'Its code is still being written.' : '' }));
      return;
    }
    if (!want) return;
    this.body.replaceChildren(h('p', { className: 'message', text: 'Loading the code…' }));
    this.request({ type: 'code', cycle: row.cycle, candidate: row.id, nearest: row.nearest });
  }

  /** Renders a `candidateCode` answer if it is for the candidate still selected (a late answer is dropped). */
  show(answer: CandidateCodeMessage): void {
    if (`${answer.cycle}\u0000${answer.candidate}\u0000${answer.nearest ?? ''}` !== this.wanted) return;
    const parts: HTMLElement[] = [];
    if (answer.message) parts.push(h('p', { className: 'message', text: answer.message, dataset: { testid: 'code-message' } }));
    const code = answer.code;
    if (code !== null && answer.nearest && answer.nearestCode !== null) parts.push(...sharedSummary(code, answer.nearest, answer.nearestCode));
    const columns: HTMLElement[] = [];
    if (code !== null) {
      columns.push(codeColumn('Extracted code', code, answer.nearestCode, 'code-candidate'));
      if (answer.nearest && answer.nearestCode !== null) columns.push(codeColumn(`Nearest: ${answer.nearest}`, answer.nearestCode, code, 'code-nearest'));
      if (answer.raw !== null && answer.raw !== code) columns.push(codeColumn('Raw reply (as generated)', answer.raw, null, 'code-raw'));
    }
    if (columns.length) parts.push(h('div', { className: 'code-columns' }, columns));
    this.body.replaceChildren(...parts);
  }
}

function percent(share: number): string {
  return `${Math.round(share * 100)} %`;
}

function sharedSummary(code: string, nearest: string, nearestCode: string): HTMLElement[] {
  const shared = sharedShingles(code, nearestCode);
  const summary = h('p', {
    className: 'shared-summary',
    dataset: { testid: 'shared-summary' },
    text:
      `${formatCount(shared.shared.length)} shared ${SHINGLE_WIDTH}-token shingles with ${nearest}: exact Jaccard ${shared.jaccard.toFixed(2)} ` +
      `(the filter estimates it by MinHash) · ${percent(shared.shareOfLeft)} of this candidate's ${formatCount(shared.left)} shingles, ` +
      `${percent(shared.shareOfRight)} of ${nearest}'s ${formatCount(shared.right)}`,
  });
  const runs = sharedRuns(code, nearestCode);
  if (runs.length === 0) return [summary];
  const items = runs.slice(0, MAX_RUNS).map((run) => {
    // A run of n tokens holds n - width + 1 shingles (one, when the code is shorter than a shingle).
    const count = Math.max(1, run.split(' ').length - SHINGLE_WIDTH + 1);
    return h('li', {}, [h('code', { text: run }), h('span', { className: 'share', text: ` ${percent(shared.left ? count / shared.left : 0)}` })]);
  });
  const more = runs.length > MAX_RUNS ? [h('li', { className: 'message', text: `and ${runs.length - MAX_RUNS} shorter runs` })] : [];
  return [summary, h('ol', { className: 'shared-runs', dataset: { testid: 'shared-runs' } }, [...items, ...more])];
}

/** One code with the parts it shares with `other` marked (nothing marked when there is no other). */
function codeColumn(title: string, code: string, other: string | null, testId: string): HTMLElement {
  const pre = h('pre', { className: 'code', dataset: { testid: testId } });
  let at = 0;
  for (const [start, end] of other === null ? [] : sharedSpans(code, other)) {
    if (start > at) pre.appendChild(document.createTextNode(code.slice(at, start)));
    pre.appendChild(h('mark', { text: code.slice(start, end) }));
    at = end;
  }
  if (at < code.length) pre.appendChild(document.createTextNode(code.slice(at)));
  return h('div', { className: 'code-column' }, [h('h4', { text: title }), pre]);
}
