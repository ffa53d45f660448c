/**
 * A run, folded once from its `Event` stream (plus ephemeral `Stream` deltas for candidates still being written).
 * This is the only reducer over a run's events: the runs tree (session/views/runView.ts), the dashboard
 * (dashboardState.ts) and the git mirror (corpus/mirrorFold.ts) are projections of what it returns.
 *
 * Pure: `applyEvent` and `applyStream` return a new state and never mutate their input, and share every object they
 * did not change, so a projection can tell what changed by reference. Robust: events repeated or out of date
 * (seq <= lastSeq) and events of another run are ignored; a client that attached with `--since` and never saw
 * `run.created` or `cycle.started` still gets a usable state (cycles and candidates are created on first mention,
 * unknown metadata stays null). Nothing here throws.
 *
 * One module though over 400 lines: it is the one fold, and splitting it would make two.
 */
import { z } from 'zod';
import type { CandidateOrigin, CandidateStatus, CycleCost, DeviceKind, CycleStats, EvalData, Event, EventOf, NoveltyMeasure, Outcome, Stream, Verdict } from './messages';

/**
 * What the views call a candidate: its `CandidateStatus` (how far it got), named finer by its outcomes, and
 * `started`/`generating` told apart by whether code has streamed yet. The dashboard's table also says `selected`
 * (what a reviewer filters by); the tree and the mirror keep selection as a flag beside the name.
 */
export const CandidateLabel = z.enum(['started', 'generating', 'generated', 'invalid', 'valid', 'duplicate', 'novel', 'trained', 'failed', 'selected']);
export type CandidateLabel = z.infer<typeof CandidateLabel>;
/** A candidate's name in the tree and the mirror, which keep selection as a flag. */
export type TreeLabel = Exclude<CandidateLabel, 'selected'>;

/**
 * Selected and not rejected: what the fine-tunes from now on train on and export keeps. A candidate rejected after
 * its cycle was selected stays in that cycle's adapter, but no view calls it selected any more.
 */
export function isSelectedNow(c: { readonly selected: boolean; readonly verdict: Verdict | null }): boolean {
  return c.selected && c.verdict !== 'reject';
}

/** What a candidate's accuracy was measured on (candidate.evaluated; null fields when its run did not say). */
export interface EvaluatedOn {
  readonly data: EvalData | null;
  readonly protocol: 'paper' | 'fast' | null;
  readonly epochs: number | null;
}

export interface Annotation {
  readonly text: string;
  readonly tags: readonly string[];
  readonly ts: number;
}

export interface CandidateView {
  readonly id: string;
  readonly cycle: number;
  readonly index: number | null;
  /** Who wrote it: the model, or a person who submitted it from the editor (candidate.submit). */
  readonly origin: CandidateOrigin;
  /** The candidate a human-written one was edited from (null: written from scratch, or the model's). */
  readonly parent: string | null;
  /** How far it got, in the backend's vocabulary; the furthest step reached wins. */
  readonly step: CandidateStatus;
  /** Its name in the views, from `step` and its outcomes (never `selected`: see `selected`). */
  readonly status: TreeLabel;
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
  readonly signature: string | null;
  readonly trainSeconds: number | null;
  readonly generation: { readonly attempts: number; readonly tokens: number; readonly seconds: number } | null;
  readonly training: {
    readonly trainSeconds: number | null;
    readonly evalSeconds: number | null;
    readonly peakMemoryMB: number | null;
    readonly imagesPerSecond: number | null;
  } | null;
  /** The data and protocol behind `accuracy`, null until evaluated. */
  readonly evaluatedOn: EvaluatedOn | null;
  /** The adapter that wrote it (null: the base model; absent in runs recorded before lineage). */
  readonly writer?: string | null;
  /** Seconds its validation took, and the device time its evaluation held (GPU- or CPU-seconds, per `device`). */
  readonly validationSeconds?: number;
  readonly deviceSeconds?: number;
  readonly device?: DeviceKind | null;
  /** Characters received so far while generating (from stream deltas), then the final code's length. */
  readonly codeChars: number;
  /** True once a stream delta arrived for it: `started` becomes `generating`. */
  readonly streamed: boolean;
  readonly selected: boolean;
  readonly selectReason: 'threshold' | 'fallback' | 'accepted' | null;
  readonly verdict: Verdict | null;
  /**
   * The verdict came after its cycle's selection: that cycle's adapter is trained on what was selected, so the
   * verdict counts from the next fine-tune onward (export honours it at once). False for a verdict given in time.
   */
  readonly verdictLate: boolean;
  readonly annotations: readonly Annotation[];
  /** Novelty three ways (token MinHash, AST structure, layer graph), as candidate.novelty gave them; [] before. */
  readonly noveltyMeasures: readonly NoveltyMeasure[];
  /** Which measure calls it a duplicate and why, in one sentence (null when the run did not say). */
  readonly noveltyExplanation: string | null;
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
  /** The ids cycle.selected named, in its order. */
  readonly selected: readonly string[];
  /** The adapter fine-tuned at the end of this cycle (finetune.done). */
  readonly finetuneAdapter: string | null;
  readonly stats: CycleStats | null;
  /** What the cycle spent (cycle.finished's cost; null before it finished, or in runs recorded before costs). */
  readonly cost?: CycleCost | null;
}

/** Where the run is: `paused` and `stopping` come from run.paused and run.stop_requested, and run.resumed ends them. */
export const RunPhase = z.enum(['running', 'paused', 'stopping', 'finished', 'stopped', 'failed']);
export type RunPhase = z.infer<typeof RunPhase>;

export interface RunView {
  readonly run: string;
  readonly name: string | null;
  readonly model: string | null;
  readonly preset: string | null;
  readonly protocol: 'paper' | 'fast' | null;
  readonly config: Readonly<Record<string, unknown>>;
  /** Planned number of cycles, or null when run.created was not seen. */
  readonly plannedCycles: number | null;
  readonly candidatesPerCycle: number | null;
  readonly phase: RunPhase;
  /** How run.finished said it ended, null before. */
  readonly finished: 'completed' | 'stopped' | 'budget' | null;
  /** What run.finished said in words (the budget reached), null when it said nothing. */
  readonly finishedDetail?: string | null;
  /** Time spent running (not paused, not ended) before `activeSince`, in milliseconds. */
  readonly activeMs: number;
  /** Commit time of the event since which the run has been running, null while paused or ended. */
  readonly activeSince: number | null;
  readonly lastSeq: number;
  readonly lastTs: number | null;
  /** Cycle numbers in ascending order. */
  readonly cycleOrder: readonly number[];
  readonly cycles: Readonly<Record<number, CycleView>>;
  readonly errors: readonly { seq: number; message: string; stage: string | null; fatal: boolean }[];
}

/** candidate.generated as the dashboard gets it: the code replaced by its length. */
type Generated = EventOf<'candidate.generated'>;
type GeneratedWithoutCode = Omit<Generated, 'data'> & { data: Omit<Generated['data'], 'code'> & { codeChars: number } };
/** Every event the fold accepts: the wire's, or the dashboard's (whose candidate.generated carries no code). */
export type FoldEvent = Exclude<Event, Generated> | Generated | GeneratedWithoutCode;

/** An empty state of a run seen for the first time. */
export function emptyRunView(run: string): RunView {
  return {
    run,
    name: null,
    model: null,
    preset: null,
    protocol: null,
    config: {},
    plannedCycles: null,
    candidatesPerCycle: null,
    phase: 'running',
    finished: null,
    activeMs: 0,
    activeSince: null,
    lastSeq: 0,
    lastTs: null,
    cycleOrder: [],
    cycles: {},
    errors: [],
  };
}

/** Folds a whole event sequence; convenient for tests and for rebuilding a view after reconnecting. */
export function foldEvents(run: string, events: Iterable<FoldEvent>): RunView {
  let view = emptyRunView(run);
  for (const event of events) view = applyEvent(view, event);
  return view;
}

// Rank of each step: a late or replayed event for an earlier step must not move a candidate backwards.
const STEP_RANK: Record<CandidateStatus, number> = { generating: 0, generated: 1, invalid: 2, validated: 2, checked: 3, evaluated: 4 };

function advance(current: CandidateStatus, next: CandidateStatus): CandidateStatus {
  return STEP_RANK[next] >= STEP_RANK[current] ? next : current;
}

/** The views' name for a candidate: its step, named finer by what its outcomes say. */
export function labelOf(c: Pick<CandidateView, 'step' | 'streamed' | 'novel' | 'outcome'>): TreeLabel {
  switch (c.step) {
    case 'generating':
      return c.streamed ? 'generating' : 'started';
    case 'generated':
      return 'generated';
    case 'invalid':
      return 'invalid';
    case 'validated':
      return 'valid';
    case 'checked':
      return c.novel ? 'novel' : 'duplicate';
    case 'evaluated':
      return c.outcome === 'ok' ? 'trained' : 'failed';
  }
}

/** The step a view's name stands for (a mirror reopened from its files folds on from there). */
export function stepOf(label: CandidateLabel): CandidateStatus {
  const steps: Record<CandidateLabel, CandidateStatus> = {
    started: 'generating',
    generating: 'generating',
    generated: 'generated',
    invalid: 'invalid',
    valid: 'validated',
    duplicate: 'checked',
    novel: 'checked',
    trained: 'evaluated',
    failed: 'evaluated',
    selected: 'evaluated',
  };
  return steps[label];
}

/** A candidate not seen before (exported so a reopened mirror can rebuild one from its record). */
export function newCandidate(id: string, cycle: number): CandidateView {
  return {
    id,
    cycle,
    index: null,
    origin: 'model',
    parent: null,
    step: 'generating',
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
    signature: null,
    trainSeconds: null,
    generation: null,
    training: null,
    evaluatedOn: null,
    codeChars: 0,
    streamed: false,
    selected: false,
    selectReason: null,
    verdict: null,
    verdictLate: false,
    noveltyMeasures: [],
    noveltyExplanation: null,
    annotations: [],
  };
}

export function newCycle(cycle: number): CycleView {
  return { cycle, planned: null, adapter: null, phase: 'generating', order: [], candidates: {}, finetune: null, selected: [], finetuneAdapter: null, stats: null };
}

function withCycle(view: RunView, cycle: number, update: (current: CycleView) => CycleView): RunView {
  const existing = view.cycles[cycle];
  const next = update(existing ?? newCycle(cycle));
  const cycleOrder = existing ? view.cycleOrder : [...view.cycleOrder, cycle].sort((a, b) => a - b);
  return { ...view, cycleOrder, cycles: { ...view.cycles, [cycle]: next } };
}

/** Updates (or creates) a candidate and names it again from what the update changed. */
function withCandidate(view: RunView, cycle: number, id: string, update: (current: CandidateView) => CandidateView): RunView {
  return withCycle(view, cycle, (current) => {
    const existing = current.candidates[id];
    const updated = update(existing ?? newCandidate(id, cycle));
    const next = { ...updated, status: labelOf(updated) };
    return {
      ...current,
      order: existing ? current.order : [...current.order, id],
      candidates: { ...current.candidates, [id]: next },
    };
  });
}

/** The origin and parent a candidate event carries; nothing for the model's events, which carry neither. */
export function provenanceOf(data: { origin?: CandidateOrigin; parent?: string | null }): Partial<Pick<CandidateView, 'origin' | 'parent'>> {
  if (data.origin === undefined) return {};
  return { origin: data.origin, parent: data.parent ?? null };
}

/** Applies one persistent event. Returns `view` itself when the event is a repeat or belongs to another run. */
export function applyEvent(view: RunView, event: FoldEvent): RunView {
  if (event.run !== view.run || event.seq <= view.lastSeq) return view;
  const next = applyKind(view, event);
  return { ...withClock(next, event.ts), lastSeq: event.seq, lastTs: event.ts };
}

/** Phases in which the run's time counts: it works, or finishes its current step before stopping. */
function isActive(phase: RunPhase): boolean {
  return phase === 'running' || phase === 'stopping';
}

/** Starts or stops the run's clock at the event that changed whether it is active. */
function withClock(after: RunView, ts: number): RunView {
  if (isActive(after.phase)) return after.activeSince === null ? { ...after, activeSince: ts } : after;
  if (after.activeSince === null) return after;
  return { ...after, activeMs: after.activeMs + Math.max(0, ts - after.activeSince), activeSince: null };
}

/** How long the run has been running, paused time left out; `now` in Unix milliseconds. */
export function elapsedMs(view: Pick<RunView, 'activeMs' | 'activeSince'>, now: number): number {
  return view.activeMs + (view.activeSince === null ? 0 : Math.max(0, now - view.activeSince));
}

function applyKind(view: RunView, event: FoldEvent): RunView {
  switch (event.kind) {
    case 'run.created': {
      const { name, model, preset, protocol, config, cycles, candidatesPerCycle } = event.data;
      return { ...view, name, model, preset, protocol, config, plannedCycles: cycles, candidatesPerCycle };
    }
    case 'cycle.started': {
      const { cycle, candidates, adapter } = event.data;
      return withCycle(view, cycle, (current) => ({ ...current, planned: candidates, adapter }));
    }
    case 'candidate.started':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({ ...c, index: event.data.index, ...provenanceOf(event.data) }));
    case 'candidate.generated': {
      const { attempts, tokens, seconds } = event.data;
      const codeChars = 'code' in event.data ? event.data.code.length : event.data.codeChars;
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        ...provenanceOf(event.data),
        step: advance(c.step, 'generated'),
        codeChars,
        generation: { attempts, tokens, seconds },
        ...(event.data.adapter !== undefined ? { writer: event.data.adapter } : {}),
      }));
    }
    case 'candidate.validated': {
      const { ok, outcome, message, line, params } = event.data;
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        step: advance(c.step, ok ? 'validated' : 'invalid'),
        valid: ok,
        outcome,
        message,
        line,
        params,
        ...(event.data.seconds !== undefined ? { validationSeconds: event.data.seconds } : {}),
      }));
    }
    case 'candidate.novelty': {
      const { maxJaccard, nearest, novel, signature, measures, explanation } = event.data;
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        noveltyMeasures: measures ?? [],
        noveltyExplanation: explanation ?? null,
        // An invalid candidate stays invalid whatever the filter says of it.
        step: c.step === 'invalid' ? c.step : advance(c.step, 'checked'),
        novel,
        maxJaccard,
        nearest,
        signature,
      }));
    }
    case 'candidate.evaluated': {
      const { outcome, accuracy, params, trainSeconds, evalSeconds, peakMemoryMB, imagesPerSecond, message } = event.data;
      const evaluatedOn = { data: event.data.data ?? null, protocol: event.data.protocol ?? null, epochs: event.data.epochs ?? null };
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        step: advance(c.step, 'evaluated'),
        outcome,
        accuracy,
        params: params ?? c.params,
        trainSeconds,
        training: { trainSeconds, evalSeconds, peakMemoryMB, imagesPerSecond },
        evaluatedOn,
        message,
        ...(event.data.deviceSeconds !== undefined ? { deviceSeconds: event.data.deviceSeconds, device: event.data.device ?? null } : {}),
      }));
    }
    case 'candidate.verdict': {
      const late = verdictIsLate(view.cycles[event.data.cycle]?.phase);
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({ ...c, verdict: event.data.verdict, verdictLate: event.data.verdict !== null && late }));
    }
    case 'candidate.annotated':
      return withCandidate(view, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        annotations: [...c.annotations, { text: event.data.text, tags: event.data.tags, ts: event.ts }],
      }));
    case 'cycle.selected': {
      const { cycle, selected, reasons } = event.data;
      let next = withCycle(view, cycle, (current) => ({ ...current, phase: 'selected', selected }));
      for (const id of selected) {
        next = withCandidate(next, cycle, id, (c) => ({ ...c, selected: true, selectReason: reasons[id] ?? null }));
      }
      return next;
    }
    case 'finetune.progress': {
      const { step, total, loss } = event.data;
      return withCycle(view, event.data.cycle, (current) => ({ ...current, phase: 'finetuning', finetune: { step, total, loss } }));
    }
    case 'finetune.done':
      return withCycle(view, event.data.cycle, (current) => ({
        ...current,
        finetune: { step: event.data.steps, total: event.data.steps, loss: event.data.loss },
        finetuneAdapter: event.data.adapter,
      }));
    case 'cycle.finished':
      return withCycle(view, event.data.cycle, (current) => ({ ...current, phase: 'finished', stats: event.data.stats, cost: event.data.cost ?? null }));
    case 'run.finished':
      return {
        ...view,
        finished: event.data.reason,
        finishedDetail: event.data.detail ?? null,
        phase: event.data.reason === 'completed' ? 'finished' : 'stopped',
      };
    case 'run.error': {
      const { message, stage, fatal } = event.data;
      return { ...view, phase: fatal ? 'failed' : view.phase, errors: [...view.errors, { seq: event.seq, message, stage, fatal }] };
    }
    case 'run.paused':
      return isActive(view.phase) ? { ...view, phase: 'paused' } : view;
    case 'run.stop_requested':
      return view.phase === 'running' || view.phase === 'paused' ? { ...view, phase: 'stopping' } : view;
    case 'run.resumed':
      // Resumed after a pause, or started again after it ended: it runs, and has not finished yet.
      return { ...view, phase: 'running', finished: null, finishedDetail: null };
    case 'run.target_changed':
      return { ...view, plannedCycles: event.data.cycles };
    case 'adapter.kept':
      return view; // a mark for retention: no view shows it
    case 'adapter.deleted':
      // Retention removed its files: the view no longer names an adapter that cannot be loaded.
      return withCycle(view, event.data.cycle, (current) =>
        current.finetuneAdapter === event.data.adapter ? { ...current, finetuneAdapter: null } : current,
      );
    case 'recheck.queued':
    case 'recheck.cancelled':
    case 'candidate.rechecked':
      return view; // re-checks: the dashboard's recheck view folds them (rankCorrelation.ts)
  }
}

/** Whether a verdict given while its cycle is in `phase` misses that cycle's selection (see CandidateView.verdictLate). */
export function verdictIsLate(phase: CyclePhase | undefined): boolean {
  return phase !== undefined && phase !== 'generating';
}

/**
 * Applies one event to one candidate on its own, for a projection that keeps only its own records of candidates
 * (the dashboard's rows): the same step as `applyEvent`, so both say the same of every candidate.
 */
export function applyToCandidate(c: CandidateView, event: FoldEvent): CandidateView {
  const cycle: CycleView = { ...newCycle(c.cycle), order: [c.id], candidates: { [c.id]: c } };
  const alone: RunView = { ...emptyRunView(event.run), cycleOrder: [c.cycle], cycles: { [c.cycle]: cycle } };
  return applyKind(alone, event).cycles[c.cycle]?.candidates[c.id] ?? c;
}

/**
 * Applies an ephemeral token delta: the candidate is "generating" and its characters are counted. Deltas that arrive
 * after the final code (or for another run) are ignored: the persistent event is the truth.
 */
export function applyStream(view: RunView, stream: Stream): RunView {
  if (stream.run !== view.run) return view;
  const existing = view.cycles[stream.cycle]?.candidates[stream.candidate];
  if (existing && existing.step !== 'generating') return view;
  return withCandidate(view, stream.cycle, stream.candidate, (c) => ({
    ...c,
    streamed: true,
    codeChars: Math.max(c.codeChars, stream.offset + stream.delta.length),
  }));
}
