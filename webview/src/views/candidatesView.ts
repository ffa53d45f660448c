/**
 * Candidates: every candidate of the run in one table that sorts, filters and virtualises (only the rows in view
 * exist in the DOM, so 10,000 rows cost what 30 do). Row actions post Open / Diff / Accept / Reject / Annotate.
 *
 * Keyboard: the grid is one tab stop; Up/Down/PageUp/PageDown/Home/End move the active row, Enter opens it,
 * A accepts, R rejects, D diffs with the nearest neighbour, N edits its annotation.
 *
 * One module though over 400 lines: sorting, filtering, virtualisation and keyboard share the grid's one state.
 */
import { parseTags, type CandidateAction } from '../../../src/protocol/dashboard';
import { DEFAULT_QUERY, queryCandidates, type CandidateQuery, type SortKey } from '../candidateQuery';
import { button, dropdown, textField, type Dropdown } from '../components';
import { h, setText } from '../dom';
import { formatCount, formatJaccard, formatPercent, formatSeconds } from '../format';
import { CANDIDATE_LABELS, type CandidateRow, type CandidateTable } from '../../../src/protocol/dashboardState';
import { CodeExplanation, renderDetailFacts, renderMeasures, type CodeRequest } from './candidateDetail';
import type { CandidateCodeMessage } from '../../../src/protocol/dashboard';

const ROW_HEIGHT = 26;
/** Rows rendered beyond the visible ones, so a fast scroll does not show blanks. */
const OVERSCAN = 8;

interface Column {
  readonly key: SortKey | 'actions';
  readonly label: string;
  readonly cell: (row: CandidateRow) => string;
}

const COLUMNS: readonly Column[] = [
  { key: 'cycle', label: 'Cycle', cell: (r) => String(r.cycle) },
  { key: 'id', label: 'Id', cell: (r) => (r.origin === 'human' ? `${r.id} (human)` : r.id) },
  { key: 'status', label: 'Status', cell: (r) => (r.errorClass ? `${r.status}: ${r.errorClass}` : r.status) },
  // Next to the id, not last: the last column before the sticky Actions is half hidden under it in most editor
  // widths (the title read "An"), and a reviewer's note belongs with the candidate it is about.
  { key: 'annotation', label: 'Annotation', cell: (r) => (r.tags.length ? `${r.annotation} [${r.tags.join(', ')}]` : r.annotation) },
  { key: 'accuracy', label: 'Accuracy', cell: (r) => formatPercent(r.accuracy) },
  { key: 'params', label: 'Params', cell: (r) => formatCount(r.params) },
  { key: 'trainSeconds', label: 'Train time', cell: (r) => formatSeconds(r.trainSeconds) },
  { key: 'maxJaccard', label: 'Max Jaccard', cell: (r) => formatJaccard(r.maxJaccard) },
  { key: 'nearest', label: 'Nearest', cell: (r) => r.nearest ?? '—' },
  { key: 'verdict', label: 'Verdict', cell: (r) => r.verdict ?? '' },
  { key: 'actions', label: 'Actions', cell: () => '' },
];

const ACTIONS = [
  { id: 'open', label: 'Open', title: 'Open the candidate (Enter)' },
  { id: 'diff', label: 'Diff', title: 'Diff with its nearest neighbour (D)' },
  { id: 'accept', label: 'Accept', title: 'Accept into the fine-tuning set (A)' },
  { id: 'reject', label: 'Reject', title: 'Reject: never fine-tune on it (R)' },
  { id: 'annotate', label: 'Note', title: 'Annotate (N)' },
] as const;
type ActionId = (typeof ACTIONS)[number]['id'];

export interface CandidatesViewOptions {
  readonly query: CandidateQuery;
  readonly selectedKey: string | null;
  readonly onQuery: (query: CandidateQuery) => void;
  readonly onSelect: (key: string | null) => void;
  readonly post: (action: CandidateAction) => void;
  /** Asks the host for the selected candidate's code and its neighbour's (the detail pane's explanation). */
  readonly requestCode?: (request: CodeRequest) => void;
}

export class CandidatesView {
  readonly element: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private readonly headerCells = new Map<SortKey, HTMLElement>();
  private readonly count: HTMLElement;
  private readonly cyclePicker: Dropdown;
  private readonly detail: HTMLElement;
  private readonly detailTitle: HTMLElement;
  private readonly detailMessage: HTMLElement;
  private readonly detailFacts: HTMLElement;
  private readonly detailMeasures: HTMLElement;
  private readonly explanation: CodeExplanation;
  private readonly annotationField: HTMLElement & { value: string };
  private readonly tagsField: HTMLElement & { value: string };
  private table: CandidateTable = { rows: [], index: new Map() };
  private order: number[] = [];
  private query: CandidateQuery;
  private selectedKey: string | null;
  private rowPool: HTMLElement[] = [];
  private orderStale = true;
  private visible = false;
  private frame = 0;

  constructor(private readonly options: CandidatesViewOptions) {
    this.query = options.query;
    this.selectedKey = options.selectedKey;
    this.count = h('span', { className: 'count', dataset: { testid: 'candidate-count' } });
    this.cyclePicker = dropdown('Filter by cycle', (value) => this.setQuery({ cycle: value === 'all' ? null : Number(value) }), 'filter-cycle');
    const statusPicker = dropdown('Filter by status', (value) => this.setQuery({ status: value as CandidateQuery['status'] }), 'filter-status');
    statusPicker.setChoices([{ value: 'any', label: 'Any status' }, ...CANDIDATE_LABELS.map((s) => ({ value: s, label: s }))], this.query.status);
    const verdictPicker = dropdown('Filter by verdict', (value) => this.setQuery({ verdict: value as CandidateQuery['verdict'] }), 'filter-verdict');
    verdictPicker.setChoices(
      [
        { value: 'any', label: 'Any verdict' },
        { value: 'accept', label: 'Accepted' },
        { value: 'reject', label: 'Rejected' },
        { value: 'none', label: 'No verdict' },
      ],
      this.query.verdict,
    );
    const search = textField('Filter by text', (value) => this.setQuery({ text: value }), {
      placeholder: 'Search id, error, neighbour, note…',
      testId: 'filter-text',
      value: this.query.text,
    });

    const headerRow = h('div', { className: 'grid-row grid-header', attrs: { role: 'row' } });
    for (const column of COLUMNS) {
      if (column.key === 'actions') {
        headerRow.appendChild(h('div', { className: 'cell col-actions', text: column.label, attrs: { role: 'columnheader' } }));
        continue;
      }
      const key = column.key;
      const cell = h('div', {
        className: `cell sortable col-${key}`,
        text: column.label,
        attrs: { role: 'columnheader', 'aria-sort': 'none' },
        dataset: { sort: key },
      });
      cell.addEventListener('click', () => this.toggleSort(key));
      this.headerCells.set(key, cell);
      headerRow.appendChild(cell);
    }
    this.body = h('div', { className: 'grid-body', attrs: { role: 'rowgroup' } });
    this.spacer = h('div', { className: 'grid-spacer' }, [this.body]);
    this.scroller = h(
      'div',
      {
        className: 'grid-scroller',
        attrs: { role: 'grid', tabindex: '0', 'aria-label': 'Candidates', 'aria-rowcount': '0' },
        dataset: { testid: 'candidate-grid' },
      },
      [h('div', { className: 'grid-head', attrs: { role: 'rowgroup' } }, [headerRow]), this.spacer],
    );
    this.scroller.addEventListener('scroll', () => this.schedule());
    this.scroller.addEventListener('keydown', (event) => this.onKey(event));
    this.body.addEventListener('click', (event) => this.onRowClick(event));

    this.detailTitle = h('h3', { text: 'No candidate selected' });
    this.detailMessage = h('p', { className: 'message' });
    this.detailFacts = h('dl', { className: 'facts', dataset: { testid: 'candidate-facts' } });
    this.detailMeasures = h('div', { className: 'measures-box' });
    this.explanation = new CodeExplanation((request) => this.options.requestCode?.(request));
    this.annotationField = textField('Annotation', () => undefined, { placeholder: 'Annotation', testId: 'annotation-text' });
    this.tagsField = textField('Tags', () => undefined, { placeholder: 'tags, comma separated', testId: 'annotation-tags' });
    this.detail = h('div', { className: 'detail', dataset: { testid: 'candidate-detail' } }, [
      this.detailTitle,
      this.detailFacts,
      this.detailMeasures,
      this.detailMessage,
      h('div', { className: 'toolbar' }, [
        button('Open', () => this.act('open'), { testId: 'detail-open' }),
        button('Diff with nearest', () => this.act('diff'), { testId: 'detail-diff' }),
        button('Accept', () => this.act('accept'), { appearance: 'primary', testId: 'detail-accept' }),
        button('Reject', () => this.act('reject'), { testId: 'detail-reject' }),
        button('Clear verdict', () => this.postVerdict(null), { testId: 'detail-clear' }),
      ]),
      h('div', { className: 'toolbar' }, [
        this.annotationField,
        this.tagsField,
        button('Save note', () => this.saveAnnotation(), { testId: 'annotation-save' }),
      ]),
      this.explanation.element,
    ]);

    this.element = h('section', { className: 'view candidates-view' }, [
      h('div', { className: 'toolbar' }, [this.cyclePicker.element, statusPicker.element, verdictPicker.element, search, this.count]),
      this.scroller,
      this.detail,
    ]);
  }

  update(table: CandidateTable): void {
    if (table === this.table) return;
    this.table = table;
    this.orderStale = true;
    if (this.visible) this.schedule();
  }

  /** Only a shown table does work; a hidden one just remembers that it is stale. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    if (visible) this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private setQuery(change: Partial<CandidateQuery>): void {
    this.query = { ...this.query, ...change };
    this.orderStale = true;
    this.options.onQuery(this.query);
    this.scroller.scrollTop = 0;
    this.schedule();
  }

  private toggleSort(key: SortKey): void {
    const sortDirection = this.query.sortKey === key && this.query.sortDirection === 'asc' ? 'desc' : 'asc';
    this.setQuery({ sortKey: key, sortDirection });
  }

  private render(): void {
    if (this.orderStale) {
      this.order = queryCandidates(this.table.rows, this.query);
      this.orderStale = false;
      this.renderChrome();
    }
    this.renderRows();
    this.renderDetail();
  }

  private renderChrome(): void {
    const cycles = [...new Set(this.table.rows.map((r) => r.cycle))].sort((a, b) => a - b);
    this.cyclePicker.setChoices(
      [{ value: 'all', label: 'All cycles' }, ...cycles.map((c) => ({ value: String(c), label: `Cycle ${c}` }))],
      this.query.cycle === null ? 'all' : String(this.query.cycle),
    );
    setText(this.count, `${formatCount(this.order.length)} of ${formatCount(this.table.rows.length)} candidates`);
    this.scroller.setAttribute('aria-rowcount', String(this.order.length + 1));
    for (const [key, cell] of this.headerCells) {
      const sorted = key === this.query.sortKey;
      cell.setAttribute('aria-sort', sorted ? (this.query.sortDirection === 'asc' ? 'ascending' : 'descending') : 'none');
      cell.classList.toggle('sorted', sorted);
    }
    this.spacer.style.height = `${this.order.length * ROW_HEIGHT}px`;
  }

  private renderRows(): void {
    const total = this.order.length;
    const viewport = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total, Math.ceil((this.scroller.scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
    const count = Math.max(0, last - first);
    while (this.rowPool.length < count) this.rowPool.push(this.makeRow());
    const rows = this.rowPool.slice(0, count);
    rows.forEach((element, i) => this.fillRow(element, first + i));
    if (this.body.childElementCount !== count) this.body.replaceChildren(...rows);
    this.body.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
  }

  private makeRow(): HTMLElement {
    const row = h('div', { className: 'grid-row', attrs: { role: 'row' } });
    for (const column of COLUMNS) {
      const cell = h('div', { className: `cell col-${column.key}`, attrs: { role: 'gridcell' } });
      if (column.key === 'actions') {
        for (const action of ACTIONS) {
          cell.appendChild(h('button', { className: 'row-action', text: action.label, attrs: { title: action.title, tabindex: '-1', type: 'button' }, dataset: { action: action.id } }));
        }
      }
      row.appendChild(cell);
    }
    return row;
  }

  private fillRow(element: HTMLElement, orderPosition: number): void {
    const row = this.table.rows[this.order[orderPosition] as number] as CandidateRow;
    element.dataset.position = String(orderPosition);
    element.dataset.key = row.key;
    element.id = `cand-${orderPosition}`;
    element.setAttribute('aria-rowindex', String(orderPosition + 2));
    const selected = row.key === this.selectedKey;
    element.classList.toggle('selected', selected);
    element.setAttribute('aria-selected', String(selected));
    element.dataset.status = row.status;
    element.dataset.verdict = row.verdict ?? 'none';
    // A verdict needs a whole candidate: rows still being written offer no Accept or Reject.
    const pending = row.status === 'started' || row.status === 'generating';
    for (const action of element.querySelectorAll<HTMLElement>('[data-action=accept], [data-action=reject]')) action.hidden = pending;
    const cells = element.children;
    for (let i = 0; i < COLUMNS.length - 1; i++) {
      const text = (COLUMNS[i] as Column).cell(row);
      const cell = cells[i] as HTMLElement;
      setText(cell, text);
      if (cell.title !== text) cell.title = text;
    }
    if (selected) this.scroller.setAttribute('aria-activedescendant', element.id);
  }

  private selectedRow(): CandidateRow | undefined {
    if (this.selectedKey === null) return undefined;
    const position = this.table.index.get(this.selectedKey);
    if (position === undefined || position >= this.table.rows.length) return undefined;
    return this.table.rows[position];
  }

  private renderDetail(): void {
    const row = this.selectedRow();
    if (!row) {
      setText(this.detailTitle, 'No candidate selected — click a row or use the arrow keys.');
      setText(this.detailMessage, '');
      renderDetailFacts(this.detailFacts, undefined);
      renderMeasures(this.detailMeasures, undefined);
      this.explanation.follow(undefined);
      return;
    }
    renderDetailFacts(this.detailFacts, row);
    renderMeasures(this.detailMeasures, row);
    this.explanation.follow(row);
    const origin = row.origin === 'human' ? ` · human-written${row.parent ? `, edited from ${row.parent}` : ''}` : '';
    setText(this.detailTitle, `Cycle ${row.cycle} · ${row.id}${origin} · ${row.status}${row.verdict ? ` · ${row.verdict}ed` : ''}`);
    setText(this.detailMessage, [row.message, row.nearest ? `nearest: ${row.nearest}` : null].filter(Boolean).join(' — '));
  }

  /** The host's answer to the detail pane's code request. */
  showCode(answer: CandidateCodeMessage): void {
    this.explanation.show(answer);
  }

  private select(key: string | null, focusAnnotation = false): void {
    const changed = key !== this.selectedKey;
    this.selectedKey = key;
    this.options.onSelect(key);
    const row = this.selectedRow();
    if (changed) {
      this.annotationField.value = row?.annotation ?? '';
      this.tagsField.value = row?.tags.join(', ') ?? '';
    }
    this.render();
    if (focusAnnotation) this.annotationField.focus();
  }

  private onRowClick(event: MouseEvent): void {
    const target = event.target as HTMLElement;
    const rowElement = target.closest<HTMLElement>('.grid-row');
    if (!rowElement?.dataset.key) return;
    this.select(rowElement.dataset.key);
    const action = target.closest<HTMLElement>('[data-action]')?.dataset.action as ActionId | undefined;
    if (action) this.act(action);
    else this.scroller.focus();
  }

  private onKey(event: KeyboardEvent): void {
    if (event.target !== this.scroller) return;
    const current = this.selectedKey === null ? -1 : this.order.findIndex((p) => this.table.rows[p]?.key === this.selectedKey);
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = {
      ArrowDown: current + 1,
      ArrowUp: current - 1,
      PageDown: current + page,
      PageUp: current - page,
      Home: 0,
      End: this.order.length - 1,
    };
    const target = moves[event.key];
    if (target !== undefined) {
      event.preventDefault();
      const clamped = Math.max(0, Math.min(this.order.length - 1, target));
      const row = this.table.rows[this.order[clamped] as number];
      if (!row) return;
      this.scrollIntoView(clamped);
      this.select(row.key);
      return;
    }
    const shortcuts: Record<string, ActionId> = { Enter: 'open', a: 'accept', r: 'reject', d: 'diff', n: 'annotate' };
    const action = shortcuts[event.key];
    if (action && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      this.act(action);
    }
  }

  private scrollIntoView(orderPosition: number): void {
    const top = orderPosition * ROW_HEIGHT;
    const headerHeight = ROW_HEIGHT;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + this.scroller.clientHeight - headerHeight) {
      this.scroller.scrollTop = top + ROW_HEIGHT - this.scroller.clientHeight + headerHeight;
    }
  }

  private act(action: ActionId): void {
    const row = this.selectedRow();
    if (!row) return;
    const ref = { cycle: row.cycle, candidate: row.id };
    switch (action) {
      case 'open':
        this.options.post({ type: 'open', ...ref });
        return;
      case 'diff':
        if (row.nearest !== null) this.options.post({ type: 'diff', ...ref, nearest: row.nearest });
        return;
      case 'accept':
      case 'reject':
        if (row.status !== 'started' && row.status !== 'generating') this.postVerdict(action);
        return;
      case 'annotate':
        this.select(row.key, true);
        return;
    }
  }

  private postVerdict(verdict: 'accept' | 'reject' | null): void {
    const row = this.selectedRow();
    if (row) this.options.post({ type: 'verdict', cycle: row.cycle, candidate: row.id, verdict });
  }

  private saveAnnotation(): void {
    const row = this.selectedRow();
    if (!row) return;
    this.options.post({
      type: 'annotate',
      cycle: row.cycle,
      candidate: row.id,
      text: this.annotationField.value,
      tags: parseTags(this.tagsField.value),
    });
  }
}

export { DEFAULT_QUERY };
