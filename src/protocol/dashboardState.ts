/**
 * The dashboard's state from the run's persistent events (plus ephemeral stream updates). No DOM and no Node: the host
 * builds a snapshot with it, and the webview continues from that snapshot with the same code, event by event.
 * Unit-tested under plain Node.
 *
 * A candidate's row is a projection of the run's one fold (runFold.ts): each event goes through the fold's own step
 * (`applyToCandidate`) for the candidate it names, from the row back to the fold's candidate and again to a row, so
 * the table, the runs tree and the git mirror say the same of every candidate. The snapshot carries rows, not the
 * fold, to stay small; a row holds all that the fold's step reads or the row shows. What is the dashboard's own
 * is its live view (stage, counters, loss curve, streamed code), the run's header and the last errors.
 *
 * Views compare slices by reference (`next.cycles !== prev.cycles`) to know what to redraw, so every reducer step
 * returns new objects only for what changed and shares the rest.
 *
 * One module though over 400 lines: the snapshot and the event-by-event update must stay one code path.
 */
import { runSetting, type CycleStats } from './messages';
import type {
  CandidateRow,
  DashboardEvent,
  DashboardSnapshot,
  DashboardStream,
  LiveState,
  RunError,
  RunInfo,
  StreamTail,
} from './dashboard';
import { LIVE_TAIL_CHARS, LOSS_HISTORY_CYCLES, LOSS_HISTORY_POINTS, MAX_LIVE_STREAMS } from './dashboard';
import { applyToLedger, type CycleLedger } from './costs';
import { summarizeRechecks, type RecheckRow, type RecheckSummary } from './rankCorrelation';
import { CandidateLabel, applyToCandidate, isSelectedNow, labelOf, newCandidate, stepOf, type CandidateView, type FoldEvent } from './runFold';

export type { CandidateRow, LiveState, LossPoint, RunError, RunInfo, Stage } from './dashboard';
export type { CandidateLabel } from './runFold';

/** Every name a row's status may have, in the order the filter lists them. */
export const CANDIDATE_LABELS: readonly CandidateLabel[] = CandidateLabel.options;

export interface CandidateTable {
  readonly rows: readonly CandidateRow[];
  /**
   * key -> position in `rows`, shared between successive states and only ever appended to, so adding one of 10,000
   * candidates does not copy a map. A position at or beyond a state's `rows.length` belongs to a later state.
   */
  readonly index: Map<string, number>;
}

export interface DashboardState {
  /** False until the host's snapshot arrived: the webview shows a loading state until then. */
  readonly loaded: boolean;
  readonly lastSeq: number;
  readonly run: RunInfo | null;
  readonly cycles: readonly CycleStats[];
  readonly candidates: CandidateTable;
  readonly live: LiveState;
  readonly errors: readonly RunError[];
  /** Per cycle: its cost and its fine-tune's lineage (costs.ts), in cycle order. */
  readonly ledger: readonly CycleLedger[];
  /** run.finished's detail (the budget that ended the run), null while it runs. */
  readonly endedBy: string | null;
  /** Every candidate.rechecked, in seq order: the longer evaluations beside the one-epoch figures. */
  readonly rechecks: readonly RecheckRow[];
}

/** The paper's MinHashLSH threshold (docs/METHOD.md, settings: novelty at generation). */
export const PAPER_NOVELTY_THRESHOLD = 0.85;
const MAX_ERRORS_KEPT = 50;
const MAX_LOSS_POINTS = 5000;

const idleLive: LiveState = {
  stage: 'waiting',
  cycle: null,
  planned: 0,
  generated: 0,
  validated: 0,
  validOk: 0,
  noveltyChecked: 0,
  evaluated: 0,
  finetuneStep: 0,
  finetuneTotal: 0,
  finetuneLoss: null,
  etaSeconds: null,
  lossCurve: [],
  lossHistory: [],
  streaming: null,
  streams: [],
  hold: 'none',
  activeMs: 0,
  activeSince: null,
};

export function initialState(): DashboardState {
  return {
    loaded: false,
    lastSeq: 0,
    run: null,
    cycles: [],
    candidates: { rows: [], index: new Map() },
    live: idleLive,
    errors: [],
    ledger: [],
    endedBy: null,
    rechecks: [],
  };
}

/**
 * The loss history with the ending cycle's fine-tune added (thinned to LOSS_HISTORY_POINTS, its last point kept), when
 * it had one; the oldest cycles go first past LOSS_HISTORY_CYCLES.
 */
function archiveLoss(live: LiveState): LiveState['lossHistory'] {
  const curve = live.lossCurve;
  if (live.cycle === null || curve.length === 0) return live.lossHistory;
  const stride = Math.max(1, Math.ceil((curve.length - 1) / (LOSS_HISTORY_POINTS - 1))); // first and last kept
  const points = curve.filter((_, i) => i % stride === 0 || i === curve.length - 1).slice(-LOSS_HISTORY_POINTS);
  const others = live.lossHistory.filter((h) => h.cycle !== live.cycle);
  return [...others, { cycle: live.cycle, points }].slice(-LOSS_HISTORY_CYCLES);
}

/** The state after a run's whole event log (what the host folds before sending a snapshot). */
export function fromEvents(events: readonly DashboardEvent[]): DashboardState {
  return { ...applyEvents(initialState(), events), loaded: true };
}

/** The state as a snapshot message carries it (the index is rebuilt on the other side). */
export function toSnapshot(state: DashboardState): DashboardSnapshot {
  return {
    lastSeq: state.lastSeq,
    run: state.run,
    cycles: [...state.cycles],
    candidates: [...state.candidates.rows],
    live: { ...state.live, lossCurve: [...state.live.lossCurve], lossHistory: [...state.live.lossHistory] },
    errors: [...state.errors],
    ledger: [...state.ledger],
    endedBy: state.endedBy,
    rechecks: [...state.rechecks],
  };
}

/** The webview's state from a host snapshot (replaces whatever was there). */
export function fromSnapshot(snapshot: DashboardSnapshot): DashboardState {
  return {
    loaded: true,
    lastSeq: snapshot.lastSeq,
    run: snapshot.run,
    cycles: snapshot.cycles,
    candidates: { rows: snapshot.candidates, index: rebuildIndex(snapshot.candidates) },
    live: snapshot.live,
    errors: snapshot.errors,
    ledger: snapshot.ledger ?? [],
    endedBy: snapshot.endedBy ?? null,
    rechecks: snapshot.rechecks ?? [],
  };
}

/**
 * Applies persistent events in order; any already applied (seq <= lastSeq) are skipped, so a replay is harmless.
 * The rows are copied at most once per call (not once per event), which keeps a 50,000-event snapshot linear.
 */
export function applyEvents(state: DashboardState, events: readonly DashboardEvent[]): DashboardState {
  const draft = new RowsDraft(state.candidates);
  let next = state;
  for (const event of events) {
    if (event.seq <= next.lastSeq) continue;
    next = { ...withClock(reduce(next, event, draft), event.ts), lastSeq: event.seq };
  }
  return next === state ? state : { ...next, candidates: draft.finish() };
}

/** Applies one persistent event; one already applied (seq <= lastSeq) leaves the state unchanged (same object). */
export function applyEvent(state: DashboardState, event: DashboardEvent): DashboardState {
  return applyEvents(state, [event]);
}

/**
 * A private, mutable copy of the candidate rows for one batch of events, made on the first write. Nothing outside
 * applyEvents sees it, so the reducer stays pure to its callers.
 */
class RowsDraft {
  private rows: CandidateRow[] | null = null;
  private index: Map<string, number>;

  constructor(private readonly base: CandidateTable) {
    this.index = base.index;
  }

  find(cycle: number, id: string): CandidateRow | undefined {
    return findCandidate(this.rows ? { rows: this.rows, index: this.index } : this.base, cycle, id);
  }

  /** Applies the fold's step for `event` to a candidate's row, creating the row for a candidate not seen yet. */
  apply(cycle: number, id: string, event: FoldEvent): void {
    this.upsert(cycle, id, (row) => rowOf(applyToCandidate(candidateOf(row), event)));
  }

  /** Updates a candidate's row, creating it if an event arrives for a candidate not seen yet. */
  upsert(cycle: number, id: string, update: (row: CandidateRow) => CandidateRow): void {
    if (!this.rows) {
      this.rows = this.base.rows.slice();
      // Another state derived from the same parent already appended to the shared index: take a private copy.
      if (this.index.size !== this.rows.length) this.index = rebuildIndex(this.rows);
    }
    const existing = this.find(cycle, id);
    if (existing) {
      this.rows[this.index.get(existing.key) as number] = update(existing);
      return;
    }
    const row = update(rowOf(newCandidate(id, cycle)));
    this.index.set(row.key, this.rows.length);
    this.rows.push(row);
  }

  finish(): CandidateTable {
    return this.rows ? { rows: this.rows, index: this.index } : this.base;
  }
}

function reduce(state: DashboardState, event: DashboardEvent, rows: RowsDraft): DashboardState {
  const live = state.live;
  switch (event.kind) {
    case 'run.created': {
      const threshold = runSetting(event.data.config, 'novelty', 'threshold');
      const run: RunInfo = {
        run: event.run,
        name: event.data.name,
        model: event.data.model,
        cycles: event.data.cycles,
        candidatesPerCycle: event.data.candidatesPerCycle,
        protocol: event.data.protocol,
        noveltyThreshold:
          typeof threshold === 'number' && threshold >= 0 && threshold <= 1 ? threshold : PAPER_NOVELTY_THRESHOLD,
      };
      return { ...state, run, live: { ...live, stage: 'idle' } };
    }
    case 'cycle.started': {
      const { hold, activeMs, activeSince } = live; // the run's state and clock outlive the cycle's counters
      const lossHistory = archiveLoss(live); // and so do earlier fine-tunes' losses
      return {
        ...state,
        ledger: applyToLedger(state.ledger, event),
        live: { ...idleLive, stage: 'generating', cycle: event.data.cycle, planned: event.data.candidates, hold, activeMs, activeSince, lossHistory },
      };
    }
    case 'candidate.started':
      rows.apply(event.data.cycle, event.data.candidate, event);
      return live.stage === 'generating' ? state : { ...state, live: { ...live, stage: 'generating' } };
    case 'candidate.generated': {
      rows.apply(event.data.cycle, event.data.candidate, event);
      return { ...state, live: { ...endStream(live, event.data.candidate), stage: 'generating', generated: live.generated + 1 } };
    }
    case 'candidate.validated': {
      const { ok } = event.data;
      rows.apply(event.data.cycle, event.data.candidate, event);
      return {
        ...state,
        live: { ...live, stage: 'validating', validated: live.validated + 1, validOk: live.validOk + (ok ? 1 : 0) },
      };
    }
    case 'candidate.novelty': {
      rows.apply(event.data.cycle, event.data.candidate, event);
      return { ...state, live: { ...live, stage: 'novelty', noveltyChecked: live.noveltyChecked + 1 } };
    }
    case 'candidate.evaluated': {
      rows.apply(event.data.cycle, event.data.candidate, event);
      return { ...state, live: { ...live, stage: 'evaluating', evaluated: live.evaluated + 1 } };
    }
    case 'candidate.verdict':
      rows.apply(event.data.cycle, event.data.candidate, event);
      return state;
    case 'candidate.annotated':
      rows.apply(event.data.cycle, event.data.candidate, event);
      return state;
    case 'cycle.selected':
      for (const id of event.data.selected) rows.apply(event.data.cycle, id, event);
      return { ...state, live: { ...live, stage: 'selecting' } };
    case 'finetune.progress': {
      const { step, total, loss, etaSeconds } = event.data;
      const curve = live.lossCurve;
      const lossCurve =
        loss === null || !Number.isFinite(loss) ? curve : [...curve.slice(-(MAX_LOSS_POINTS - 1)), { step, loss }];
      return {
        ...state,
        live: {
          ...live,
          stage: 'finetuning',
          finetuneStep: step,
          finetuneTotal: total,
          finetuneLoss: loss,
          etaSeconds,
          lossCurve,
        },
      };
    }
    case 'finetune.done':
      return {
        ...state,
        ledger: applyToLedger(state.ledger, event),
        live: {
          ...live,
          stage: 'idle',
          finetuneStep: event.data.steps,
          finetuneTotal: event.data.steps,
          finetuneLoss: event.data.loss,
          etaSeconds: 0,
        },
      };
    case 'cycle.finished':
      return {
        ...state,
        cycles: upsertCycle(state.cycles, event.data.stats),
        ledger: applyToLedger(state.ledger, event),
        live: { ...live, stage: 'idle' },
      };
    case 'run.finished':
      return {
        ...state,
        endedBy: event.data.detail ?? null,
        live: { ...live, hold: 'none', stage: event.data.reason === 'completed' ? 'finished' : 'stopped' },
      };
    case 'run.paused':
      return ENDED.has(live.stage) ? state : { ...state, live: { ...live, hold: 'paused' } };
    case 'run.stop_requested':
      return ENDED.has(live.stage) ? state : { ...state, live: { ...live, hold: 'stopping' } };
    case 'run.resumed':
      // Resumed, or started again after it ended: the stage waits for the loop's next event.
      return { ...state, endedBy: null, live: { ...live, hold: 'none', stage: ENDED.has(live.stage) ? 'idle' : live.stage } };
    case 'run.target_changed':
      return state.run ? { ...state, run: { ...state.run, cycles: event.data.cycles } } : state;
    case 'run.error': {
      const error: RunError = {
        seq: event.seq,
        message: event.data.message,
        stage: event.data.stage,
        fatal: event.data.fatal,
      };
      const errors = [...state.errors.slice(-(MAX_ERRORS_KEPT - 1)), error];
      return { ...state, errors, live: event.data.fatal ? { ...live, stage: 'failed' } : live };
    }
    case 'adapter.kept':
    case 'adapter.deleted':
      return state; // adapter retention: nothing the dashboard shows
    case 'recheck.queued':
    case 'recheck.cancelled':
      return state; // the queue: only results are shown
    case 'candidate.rechecked': {
      const { cycle, candidate, recheck, epochs, seed, outcome, accuracy } = event.data;
      return { ...state, rechecks: [...state.rechecks, { cycle, candidate, recheck, epochs, seed, outcome, accuracy }] };
    }
  }
}

/** Stages after which the run does nothing more until run.resumed. */
const ENDED: ReadonlySet<string> = new Set(['finished', 'stopped', 'failed']);

/** The run's clock, as `runFold.ts` keeps it: it runs while the run is under way and not paused. */
function withClock(state: DashboardState, ts: number): DashboardState {
  const live = state.live;
  const active = live.stage !== 'waiting' && !ENDED.has(live.stage) && live.hold !== 'paused';
  if (active) return live.activeSince === null ? { ...state, live: { ...live, activeSince: ts } } : state;
  if (live.activeSince === null) return state;
  return { ...state, live: { ...live, activeMs: live.activeMs + Math.max(0, ts - live.activeSince), activeSince: null } };
}

/** How long the run has been running, paused time left out; `now` in Unix milliseconds. */
export function liveElapsedMs(live: LiveState, now: number): number {
  return live.activeMs + (live.activeSince === null ? 0 : Math.max(0, now - live.activeSince));
}

/**
 * Applies an ephemeral stream update (not numbered, not persisted: it only moves the live view). Each message carries
 * the tail of one delta; contiguous deltas are joined into the candidate's tail (a gap starts it afresh, a repeated
 * piece after a re-attach is dropped). Batched sampling streams several candidates at once: the code pane follows one
 * until its stream ends (done, or its candidate.generated event), then the candidate that has written the most.
 */
export function applyStream(state: DashboardState, stream: DashboardStream): DashboardState {
  const live = state.live;
  if (stream.done) return { ...state, live: endStream(live, stream.candidate) };
  const previous = live.streams.find((entry) => entry.candidate === stream.candidate);
  let tail: string;
  if (!previous) tail = stream.tail;
  else if (stream.offset <= previous.chars) return state;
  else {
    const start = stream.offset - stream.tail.length;
    tail = start > previous.chars ? stream.tail : previous.tail + stream.tail.slice(previous.chars - start);
  }
  const entry: StreamTail = { candidate: stream.candidate, chars: stream.offset, tail: tail.slice(-LIVE_TAIL_CHARS) };
  const others = live.streams.filter((other) => other.candidate !== stream.candidate);
  const streams = [...others.slice(-(MAX_LIVE_STREAMS - 1)), entry];
  const follows = live.streaming === null || live.streaming.candidate === stream.candidate;
  return { ...state, live: { ...live, streams, streaming: follows ? entry : live.streaming } };
}

/** The candidate's stream is over: forget it, and follow the stream that has written the most, if any. */
function endStream(live: LiveState, candidate: string): LiveState {
  const streams = live.streams.filter((entry) => entry.candidate !== candidate);
  if (streams.length === live.streams.length && live.streaming?.candidate !== candidate) return live;
  if (live.streaming !== null && live.streaming.candidate !== candidate) return { ...live, streams };
  const next = streams.reduce<StreamTail | null>((best, entry) => (best === null || entry.chars > best.chars ? entry : best), null);
  return { ...live, streams, streaming: next };
}

export function candidateKey(cycle: number, id: string): string {
  return `${cycle}/${id}`;
}

export function findCandidate(table: CandidateTable, cycle: number, id: string): CandidateRow | undefined {
  const key = candidateKey(cycle, id);
  const position = table.index.get(key);
  if (position === undefined || position >= table.rows.length) return undefined;
  const row = table.rows[position];
  return row?.key === key ? row : undefined;
}

/** A candidate's row: the fold's candidate as the table shows it (selection wins the status, as reviewers filter by it). */
export function rowOf(c: CandidateView): CandidateRow {
  const last = c.annotations[c.annotations.length - 1];
  return {
    key: candidateKey(c.cycle, c.id),
    cycle: c.cycle,
    id: c.id,
    status: isSelectedNow(c) ? 'selected' : c.status,
    errorClass: c.outcome !== null && c.outcome !== 'ok' ? c.outcome : null,
    message: c.message,
    accuracy: c.accuracy,
    params: c.params,
    trainSeconds: c.trainSeconds,
    maxJaccard: c.maxJaccard,
    nearest: c.nearest,
    verdict: c.verdict,
    annotation: last?.text ?? '',
    tags: last ? [...last.tags] : [],
    novel: c.novel,
    attempts: c.generation?.attempts ?? null,
    selectReason: c.selectReason,
    evalSeconds: c.training?.evalSeconds ?? null,
    peakMemoryMB: c.training?.peakMemoryMB ?? null,
    evaluatedOn: c.evaluatedOn,
    origin: c.origin,
    parent: c.parent,
    measures: [...c.noveltyMeasures],
    noveltyExplanation: c.noveltyExplanation,
  };
}

/**
 * The fold's candidate a row stands for: everything the fold's step reads or `rowOf` writes, so that
 * `rowOf(candidateOf(row))` is `row` again (a selected row stands for a candidate that got as far as evaluation).
 */
export function candidateOf(row: CandidateRow): CandidateView {
  const step = stepOf(row.status);
  const passed = row.status !== 'started' && row.status !== 'generating' && row.status !== 'generated' && row.status !== 'invalid';
  const c: CandidateView = {
    ...newCandidate(row.id, row.cycle),
    origin: row.origin,
    parent: row.parent,
    step,
    streamed: row.status === 'generating',
    outcome: row.errorClass ?? (passed ? 'ok' : null),
    message: row.message,
    params: row.params,
    valid: row.status === 'invalid' ? false : passed ? true : null,
    novel: row.novel,
    accuracy: row.accuracy,
    maxJaccard: row.maxJaccard,
    nearest: row.nearest,
    trainSeconds: row.trainSeconds,
    generation: row.attempts === null ? null : { attempts: row.attempts, tokens: 0, seconds: 0 },
    training:
      row.evalSeconds === null && row.peakMemoryMB === null
        ? null
        : { trainSeconds: row.trainSeconds, evalSeconds: row.evalSeconds, peakMemoryMB: row.peakMemoryMB, imagesPerSecond: null },
    evaluatedOn: row.evaluatedOn,
    selected: row.status === 'selected',
    selectReason: row.selectReason,
    verdict: row.verdict,
    annotations: row.annotation !== '' || row.tags.length > 0 ? [{ text: row.annotation, tags: row.tags, ts: 0 }] : [],
    noveltyMeasures: row.measures,
    noveltyExplanation: row.noveltyExplanation,
  };
  return { ...c, status: labelOf(c) };
}

function rebuildIndex(rows: readonly CandidateRow[]): Map<string, number> {
  return new Map(rows.map((row, position) => [row.key, position]));
}

function upsertCycle(cycles: readonly CycleStats[], stats: CycleStats): CycleStats[] {
  const others = cycles.filter((existing) => existing.cycle !== stats.cycle);
  return [...others, stats].sort((a, b) => a.cycle - b.cycle);
}

/** The re-checks beside each candidate's one-epoch accuracy: the plot's points and Spearman per cycle and overall. */
export function recheckSummaryOf(state: DashboardState): RecheckSummary {
  return summarizeRechecks(state.rechecks, (cycle, id) => findCandidate(state.candidates, cycle, id)?.accuracy ?? null);
}
