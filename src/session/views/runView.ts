/**
 * What the UI knows about one run, folded from its `Event` stream (plus ephemeral `Stream` deltas for the
 * "generating" state). Pure: `applyEvent` and `applyStream` return a new state and never mutate their input, so a
 * tree provider can keep the previous state to diff against, and tests can drive it with fixture events.
 *
 * Robustness: events repeated or out of date (seq <= lastSeq) are ignored; events for another run are ignored;
 * a client that attached with `--since` and never saw `run.created` or `cycle.started` still gets a usable view
 * (cycles and candidates are created on first mention, unknown metadata stays null). Nothing here throws.
 */
import type { CycleStats, Event, EventOf, Outcome, Stream, Verdict } from '../../protocol/messages';

/** Where a candidate is in its pipeline; the furthest stage reached wins. */
export type CandidateStatus =
  | 'started'
  | 'generating'
  | 'generated'
  | 'invalid'
  | 'duplicate'
  | 'novel'
  | 'trained'
  | 'failed';

export interface Annotation {
  text: string;
  tags: readonly string[];
  ts: number;
}

export interface CandidateView {
  readonly id: string;
  readonly cycle: number;
  readonly index: number | null;
  readonly status: CandidateStatus;
  /** Validation or evaluation outcome, whichever came last. */
  readonly outcome: Outcome | null;
  readonly message: string | null;
  readonly line: number | null;
  readonly params: number | null;
  /** Validation verdict, null until validated. */
  readonly valid: boolean | null;
  /** Novelty filter verdict, null until filtered. */
  readonly novel: boolean | null;
  readonly accuracy: number | null;
  readonly maxJaccard: number | null;
  readonly nearest: string | null;
  readonly trainSeconds: number | null;
  /** Characters received so far while generating (from stream deltas), then the final code's length. */
  readonly codeChars: number;
  readonly selected: boolean;
  readonly selectReason: 'threshold' | 'fallback' | 'accepted' | null;
  readonly verdict: Verdict | null;
  readonly annotations: readonly Annotation[];
}

export type CyclePhase = 'generating' | 'selected' | 'finetuning' | 'finished';

export interface FinetuneProgress {
  readonly step: number;
  readonly total: number;
  readonly loss: number | null;
}

export interface CycleView {
  readonly cycle: number;
  /** Candidates the cycle will generate (from cycle.started), or null if that event was not seen. */
  readonly planned: number | null;
  readonly adapter: string | null;
  readonly phase: CyclePhase;
  /** Candidate ids in the order they first appeared. */
  readonly order: readonly string[];
  readonly candidates: Readonly<Record<string, CandidateView>>;
  readonly finetune: FinetuneProgress | null;
  readonly stats: CycleStats | null;
}

export type RunPhase = 'running' | 'finished' | 'stopped' | 'failed';

export interface RunView {
  readonly run: string;
  readonly name: string | null;
  readonly model: string | null;
  /** Planned number of cycles, or null when run.created was not seen. */
  readonly plannedCycles: number | null;
  readonly candidatesPerCycle: number | null;
  readonly phase: RunPhase;
  readonly lastSeq: number;
  readonly lastTs: number | null;
  /** Cycle numbers in ascending order. */
  readonly cycleOrder: readonly number[];
  readonly cycles: Readonly<Record<number, CycleView>>;
  readonly errors: readonly { message: string; stage: string | null; fatal: boolean }[];
}

/** An empty view of a run seen for the first time. */
export function emptyRunView(run: string): RunView {
  return {
    run,
    name: null,
    model: null,
    plannedCycles: null,
    candidatesPerCycle: null,
    phase: 'running',
    lastSeq: 0,
    lastTs: null,
    cycleOrder: [],
    cycles: {},
    errors: [],
  };
}

/** Folds a whole event sequence; convenient for tests and for rebuilding a view after reconnecting. */
export function foldEvents(run: string, events: Iterable<Event>): RunView {
  let view = emptyRunView(run);
  for (const event of events) view = applyEvent(view, event);
  return view;
}

// Rank of each status: a late or replayed event for an earlier stage must not move a candidate backwards.
const STATUS_RANK: Record<CandidateStatus, number> = {
  started: 0,
  generating: 1,
  generated: 2,
  invalid: 3,
  duplicate: 3,
  novel: 3,
  trained: 4,
  failed: 4,
};

function advance(current: CandidateStatus, next: CandidateStatus): CandidateStatus {
  return STATUS_RANK[next] >= STATUS_RANK[current] ? next : current;
}

function newCandidate(id: string, cycle: number): CandidateView {
  return {
    id,
    cycle,
    index: null,
    status: 'started',
    outcome: null,
    message: null,
    line: null,
    params: null,
    valid: null,
    novel: null,
    accuracy: null,
    maxJaccard: null,
    nearest: null,
    trainSeconds: null,
    codeChars: 0,
    selected: false,
    selectReason: null,
    verdict: null,
    annotations: [],
  };
}

function newCycle(cycle: number): CycleView {
  return { cycle, planned: null, adapter: null, phase: 'generating', order: [], candidates: {}, finetune: null, stats: null };
}

function withCycle(view: RunView, cycle: number, update: (current: CycleView) => CycleView): RunView {
  const existing = view.cycles[cycle];
  const next = update(existing ?? newCycle(cycle));
  const cycleOrder = existing ? view.cycleOrder : [...view.cycleOrder, cycle].sort((a, b) => a - b);
  return { ...view, cycleOrder, cycles: { ...view.cycles, [cycle]: next } };
}

function withCandidate(view: RunView, cycle: number, id: string, update: (current: CandidateView) => CandidateView): RunView {
  return withCycle(view, cycle, (current) => {
    const existing = current.candidates[id];
    const next = update(existing ?? newCandidate(id, cycle));
    return {
      ...current,
      order: existing ? current.order : [...current.order, id],
      candidates: { ...current.candidates, [id]: next },
    };
  });
}

/** Applies one persistent event. Returns `view` itself when the event is a repeat or belongs to another run. */
export function applyEvent(view: RunView, event: Event): RunView {
  if (event.run !== view.run || event.seq <= view.lastSeq) return view;
  const next = applyKind(view, event);
  return { ...next, lastSeq: event.seq, lastTs: event.ts };
}

function applyKind(view: RunView, event: Event): RunView {
  switch (event.kind) {
    case 'run.created': {
      const { name, model, cycles, candidatesPerCycle } = event.data;
      return { ...view, name, model, plannedCycles: cycles, candidatesPerCycle };
    }
    case 'cycle.started': {
      const { cycle, candidates, adapter } = event.data;
      return withCycle(view, cycle, (current) => ({ ...current, planned: candidates, adapter }));
    }
    case 'candidate.started':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({ ...c, index: event.data.index }));
    case 'candidate.generated':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        status: advance(c.status, 'generated'),
        codeChars: event.data.code.length,
      }));
    case 'candidate.validated':
      return applyValidated(view, event);
    case 'candidate.novelty':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        status: c.status === 'invalid' ? c.status : advance(c.status, event.data.novel ? 'novel' : 'duplicate'),
        novel: event.data.novel,
        maxJaccard: event.data.maxJaccard,
        nearest: event.data.nearest,
      }));
    case 'candidate.evaluated': {
      const { outcome, accuracy, params, trainSeconds, message } = event.data;
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        status: advance(c.status, outcome === 'ok' ? 'trained' : 'failed'),
        outcome,
        accuracy,
        params: params ?? c.params,
        trainSeconds,
        message,
      }));
    }
    case 'candidate.verdict':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({ ...c, verdict: event.data.verdict }));
    case 'candidate.annotated':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        annotations: [...c.annotations, { text: event.data.text, tags: event.data.tags, ts: event.ts }],
      }));
    case 'cycle.selected':
      return applySelected(view, event);
    case 'finetune.progress': {
      const { step, total, loss } = event.data;
      return withCycle(view, event.data.cycle, (current) => ({ ...current, phase: 'finetuning', finetune: { step, total, loss } }));
    }
    case 'finetune.done':
      return withCycle(view, event.data.cycle, (current) => ({
        ...current,
        finetune: { step: event.data.steps, total: event.data.steps, loss: event.data.loss },
      }));
    case 'cycle.finished':
      return withCycle(view, event.data.cycle, (current) => ({ ...current, phase: 'finished', stats: event.data.stats }));
    case 'run.finished':
      return { ...view, phase: event.data.reason === 'completed' ? 'finished' : 'stopped' };
    case 'run.error': {
      const { message, stage, fatal } = event.data;
      return { ...view, phase: fatal ? 'failed' : view.phase, errors: [...view.errors, { message, stage, fatal }] };
    }
  }
}

function applyValidated(view: RunView, event: EventOf<'candidate.validated'>): RunView {
  const { ok, outcome, message, line, params } = event.data;
  return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
    ...c,
    // A valid candidate stays "generated" until the novelty filter speaks.
    status: ok ? advance(c.status, 'generated') : advance(c.status, 'invalid'),
    valid: ok,
    outcome,
    message,
    line,
    params,
  }));
}

function applySelected(view: RunView, event: EventOf<'cycle.selected'>): RunView {
  const { cycle, selected, reasons } = event.data;
  let next = withCycle(view, cycle, (current) => ({ ...current, phase: 'selected' }));
  for (const id of selected) {
    next = withCandidate(next, cycle, id, (c) => ({ ...c, selected: true, selectReason: reasons[id] ?? null }));
  }
  return next;
}

/**
 * Applies an ephemeral token delta: marks the candidate "generating" and counts its characters. Deltas that arrive
 * after the final code (or for another run) are ignored: the persistent event is the truth.
 */
export function applyStream(view: RunView, stream: Stream): RunView {
  if (stream.run !== view.run) return view;
  const existing = view.cycles[stream.cycle]?.candidates[stream.candidate];
  if (existing && STATUS_RANK[existing.status] >= STATUS_RANK.generated) return view;
  return withCandidate(view, stream.cycle, stream.candidate, (c) => ({
    ...c,
    status: 'generating',
    codeChars: Math.max(c.codeChars, stream.offset + stream.delta.length),
  }));
}

/** Counts over one cycle, shared by the tree's cycle rows and the status bar. */
export interface CycleCounts {
  generated: number;
  valid: number;
  novel: number;
  trained: number;
  failed: number;
  selected: number;
  best: number | null;
}

/** Counts derived from the candidates themselves, so they are right mid-cycle (stats arrive only at the end). */
export function countCycle(cycle: CycleView): CycleCounts {
  const counts: CycleCounts = { generated: 0, valid: 0, novel: 0, trained: 0, failed: 0, selected: 0, best: null };
  for (const id of cycle.order) {
    const c = cycle.candidates[id];
    if (!c) continue;
    if (STATUS_RANK[c.status] >= STATUS_RANK.generated) counts.generated += 1;
    if (c.valid === true) counts.valid += 1;
    if (c.novel === true) counts.novel += 1;
    if (c.status === 'trained') counts.trained += 1;
    if (c.status === 'failed') counts.failed += 1;
    if (c.selected) counts.selected += 1;
    if (c.accuracy !== null && (counts.best === null || c.accuracy > counts.best)) counts.best = c.accuracy;
  }
  return counts;
}

/** Best accuracy over every cycle of the run, or null before anything trained. */
export function bestAccuracy(view: RunView): number | null {
  let best: number | null = null;
  for (const cycle of view.cycleOrder) {
    const cycleView = view.cycles[cycle];
    if (!cycleView) continue;
    const cycleBest = cycleView.stats?.bestAcc ?? countCycle(cycleView).best;
    if (cycleBest !== null && (best === null || cycleBest > best)) best = cycleBest;
  }
  return best;
}

/** The highest-numbered cycle seen, or undefined before any. */
export function currentCycle(view: RunView): CycleView | undefined {
  const last = view.cycleOrder[view.cycleOrder.length - 1];
  return last === undefined ? undefined : view.cycles[last];
}
