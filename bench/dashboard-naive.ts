/// <reference lib="dom" />
/**
 * The dashboard benchmark's baseline (browser bundle, built by dashboard-bench.ts only): the straightforward way to
 * draw the same data. It validates and folds each host message with the product's own protocol code, then rebuilds
 * the header, the cycles table and the whole candidates table (every row) synchronously, once per message. What it
 * leaves out against the product (frame batching, the windowed grid, per-view skipping) is what the bench measures.
 */
import { parseHostMessage } from '../src/protocol/dashboard';
import { applyEvents, applyStream, fromSnapshot, initialState, type DashboardState } from '../src/protocol/dashboardState';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

const root = document.getElementById('root') as HTMLElement;
const vscode = acquireVsCodeApi();
let state: DashboardState = initialState();
let view: 'cycles' | 'candidates' = 'cycles';

const cell = (text: string): HTMLTableCellElement => Object.assign(document.createElement('td'), { textContent: text });
const fixed = (value: number | null, digits: number): string => (value === null ? '' : value.toFixed(digits));

function table(rows: readonly string[][]): HTMLTableElement {
  const element = document.createElement('table');
  for (const values of rows) element.appendChild(document.createElement('tr')).append(...values.map(cell));
  return element;
}

function render(): void {
  if (!state.loaded) return;
  const header = Object.assign(document.createElement('header'), { textContent: `${state.run?.name ?? 'No run'} · ${state.candidates.rows.length} candidates · event #${state.lastSeq}` });
  const tab = Object.assign(document.createElement('button'), { textContent: 'Candidates' });
  tab.dataset.testid = 'tab-candidates';
  tab.onclick = () => {
    view = 'candidates';
    render();
  };
  const body =
    view === 'cycles'
      ? table(state.cycles.map((c) => [String(c.cycle), String(c.generated), fixed(c.validPct, 1), fixed(c.bestAcc, 1), fixed(c.meanAcc, 1), String(c.uniqueModels)]))
      : table(state.candidates.rows.map((r) => [r.id, String(r.cycle), r.status, fixed(r.accuracy, 1), r.params === null ? '' : String(r.params), fixed(r.maxJaccard, 2), r.nearest ?? '', r.verdict ?? '', r.annotation]));
  if (view === 'candidates') {
    body.classList.add('grid-body'); // what the bench waits for, as in the product's grid
    for (const row of body.querySelectorAll('tr')) row.classList.add('grid-row');
  }
  root.replaceChildren(header, tab, body);
  root.dataset.state = 'ready';
  root.dataset.renderedSeq = String(state.lastSeq);
}

window.addEventListener('message', (event: MessageEvent) => {
  const parsed = parseHostMessage(event.data);
  if (!parsed.success) return;
  const message = parsed.data;
  if (message.type === 'snapshot') state = fromSnapshot(message.state);
  else if (message.type === 'events' && state.loaded) state = applyEvents(state, message.events);
  else if (message.type === 'stream' && state.loaded) state = applyStream(state, message.stream);
  else return;
  render();
});
vscode.postMessage({ type: 'ready' });
