/**
 * The git mirror as a projection of the run's one fold (protocol/runFold.ts). `foldMirror` applies an event to that
 * fold and notes what changed, by comparing the fold before and after (it shares every object it did not change);
 * `takeBatch` turns what changed into file writes and planned commits (with their messages and tags) and clears it.
 * The writer (gitMirror.ts) only performs them, so every decision about content and history is tested here without
 * git. The files hold the fold's records as mirrorRecords.ts writes them; a reopened mirror rebuilds the fold from them.
 *
 * Commit policy: one commit per finished cycle (tagged `cycle-N`), one per batch of verdicts/annotations (only the
 * touched candidates' metadata), one when the run is created or finishes. Candidates of an unfinished cycle are
 * written to the working tree as they arrive but committed with their cycle (or, on close, as "in progress").
 * Repeated events (seq <= lastSeq) and events of another run are ignored; nothing here throws.
 */
import type { Event, Verdict } from '../protocol/messages';
import { applyEvent, emptyRunView, labelOf, newCandidate, newCycle, stepOf, type CandidateView, type CycleView, type RunView } from '../protocol/runFold';
import {
  RUN_FILE,
  candidateCodePath,
  candidateMetaPath,
  cycleMetaPath,
  toJsonFile,
  type CandidateRecord,
  type CycleRecord,
  type RunRecord,
} from './mirrorRecords';

/** What changed since the last batch. Small: it is emptied at every commit. */
export interface PendingChanges {
  readonly runDirty: boolean;
  readonly created: boolean;
  readonly finished: boolean;
  /** "cycle/candidate" keys whose metadata changed. */
  readonly candidates: readonly string[];
  readonly cycles: readonly number[];
  /** Code to write, by "cycle/candidate" key (kept only until written: the mirror does not hold all code in memory). */
  readonly code: Readonly<Record<string, string>>;
  readonly finishedCycles: readonly number[];
  readonly verdicts: readonly { cycle: number; candidate: string; verdict: Verdict | null }[];
  readonly annotations: readonly { cycle: number; candidate: string }[];
}

export interface MirrorState {
  /** The run's fold: the records written are projections of it. */
  readonly fold: RunView;
  readonly pending: PendingChanges;
}

export interface FileWrite {
  /** Relative to the mirror root, '/'-separated. */
  readonly path: string;
  readonly content: string;
}

export interface PlannedCommit {
  /** Subject line first; further lines become the body. */
  readonly message: readonly string[];
  /** Paths to stage, or 'all' for everything in the working tree. */
  readonly paths: readonly string[] | 'all';
  readonly tag?: string;
  /** Commit even when nothing is staged: run milestones must appear in history even if a review commit in the
   * same batch already took the files they touched. */
  readonly allowEmpty?: boolean;
}

export interface MirrorBatch {
  readonly writes: readonly FileWrite[];
  readonly commits: readonly PlannedCommit[];
}

const NO_CHANGES: PendingChanges = {
  runDirty: false,
  created: false,
  finished: false,
  candidates: [],
  cycles: [],
  code: {},
  finishedCycles: [],
  verdicts: [],
  annotations: [],
};

export function emptyMirrorState(run: string): MirrorState {
  return { fold: emptyRunView(run), pending: NO_CHANGES };
}

// ---- the records: projections of the fold, and back ----------------------------------------------------------

export function runRecord(fold: RunView): RunRecord {
  return {
    run: fold.run,
    name: fold.name,
    model: fold.model,
    preset: fold.preset,
    protocol: fold.protocol,
    plannedCycles: fold.plannedCycles,
    candidatesPerCycle: fold.candidatesPerCycle,
    config: { ...fold.config },
    lastSeq: fold.lastSeq,
    finished: fold.finished,
    errors: fold.errors.map(({ message, stage, fatal }) => ({ message, stage, fatal })),
  };
}

export function cycleRecord(cycle: CycleView): CycleRecord {
  const { planned, adapter, selected, finetuneAdapter, stats } = cycle;
  return { cycle: cycle.cycle, planned, adapter, selected: [...selected], finetuneAdapter, stats };
}

export function candidateRecord(c: CandidateView): CandidateRecord {
  return {
    candidate: c.id,
    cycle: c.cycle,
    index: c.index,
    status: c.status,
    outcome: c.outcome,
    message: c.message,
    line: c.line,
    params: c.params,
    accuracy: c.accuracy,
    novelty: c.novel === null ? null : { maxJaccard: c.maxJaccard ?? 0, novel: c.novel, signature: c.signature ?? '' },
    nearest: c.nearest,
    generation: c.generation,
    training: c.training,
    selected: c.selected,
    selectReason: c.selectReason,
    verdict: c.verdict,
    annotations: c.annotations.map((a) => ({ text: a.text, tags: [...a.tags], ts: a.ts })),
  };
}

function candidateFromRecord(r: CandidateRecord): CandidateView {
  const step = stepOf(r.status);
  const valid = step === 'invalid' ? false : step === 'generating' || step === 'generated' ? null : true;
  const c: CandidateView = {
    ...newCandidate(r.candidate, r.cycle),
    index: r.index,
    step,
    outcome: r.outcome,
    message: r.message,
    line: r.line,
    params: r.params,
    valid,
    novel: r.novelty?.novel ?? null,
    maxJaccard: r.novelty?.maxJaccard ?? null,
    signature: r.novelty?.signature ?? null,
    nearest: r.nearest,
    accuracy: r.accuracy,
    trainSeconds: r.training?.trainSeconds ?? null,
    generation: r.generation,
    training: r.training,
    selected: r.selected,
    selectReason: r.selectReason,
    verdict: r.verdict,
    annotations: r.annotations,
  };
  return { ...c, status: labelOf(c) };
}

/** Rebuilds the fold from records read back from disk (a reopened mirror continues where it stopped). */
export function mirrorStateFromRecords(run: RunRecord, cycles: readonly { record: CycleRecord; candidates: readonly CandidateRecord[] }[]): MirrorState {
  const byCycle: Record<number, CycleView> = {};
  for (const { record, candidates } of cycles) {
    const phase = record.stats !== null ? 'finished' : record.selected.length > 0 ? 'selected' : 'generating';
    byCycle[record.cycle] = {
      ...newCycle(record.cycle),
      planned: record.planned,
      adapter: record.adapter,
      phase,
      order: candidates.map((c) => c.candidate),
      candidates: Object.fromEntries(candidates.map((c) => [c.candidate, candidateFromRecord(c)])),
      selected: record.selected,
      finetuneAdapter: record.finetuneAdapter,
      stats: record.stats,
    };
  }
  const protocol = run.protocol === 'paper' || run.protocol === 'fast' ? run.protocol : null;
  const fatal = run.errors.some((e) => e.fatal);
  const fold: RunView = {
    ...emptyRunView(run.run),
    name: run.name,
    model: run.model,
    preset: run.preset,
    protocol,
    config: run.config,
    plannedCycles: run.plannedCycles,
    candidatesPerCycle: run.candidatesPerCycle,
    finished: run.finished,
    phase: run.finished === 'completed' ? 'finished' : run.finished === 'stopped' || run.finished === 'budget' ? 'stopped' : fatal ? 'failed' : 'running',
    lastSeq: run.lastSeq,
    cycleOrder: Object.keys(byCycle).map(Number).sort((a, b) => a - b),
    cycles: byCycle,
    errors: run.errors.map((e) => ({ seq: 0, ...e })),
  };
  return { fold, pending: NO_CHANGES };
}

/** True when a batch would write or commit something. */
export function hasPendingChanges(state: MirrorState): boolean {
  const p = state.pending;
  return p.runDirty || p.candidates.length > 0 || p.cycles.length > 0 || Object.keys(p.code).length > 0;
}

const key = (cycle: number, candidate: string): string => `${cycle}/${candidate}`;
const addUnique = <T>(list: readonly T[], item: T): readonly T[] => (list.includes(item) ? list : [...list, item]);

/** Folds one event in. Returns `state` itself for a repeat or another run's event. */
export function foldMirror(state: MirrorState, event: Event): MirrorState {
  const fold = applyEvent(state.fold, event);
  if (fold === state.fold) return state;
  let pending: PendingChanges = { ...notice(state.fold, fold, state.pending), runDirty: true };
  // The fold keeps only the code's length: the code itself goes straight to the next batch's writes.
  if (event.kind === 'candidate.generated') {
    pending = { ...pending, code: { ...pending.code, [key(event.data.cycle, event.data.candidate)]: event.data.code } };
  }
  return { fold, pending };
}

/** What differs between two states of the fold, added to what was pending (objects not changed are shared). */
function notice(before: RunView, after: RunView, pending: PendingChanges): PendingChanges {
  let p = pending;
  if (before.name !== after.name || before.model !== after.model || before.config !== after.config) p = { ...p, created: true };
  if (before.finished !== after.finished) p = { ...p, finished: true };
  for (const number of after.cycleOrder) {
    const was = before.cycles[number];
    const now = after.cycles[number];
    if (!now || was === now) continue;
    const recordChanged =
      !was || was.planned !== now.planned || was.adapter !== now.adapter || was.selected !== now.selected ||
      was.finetuneAdapter !== now.finetuneAdapter || was.stats !== now.stats;
    if (recordChanged) p = { ...p, cycles: addUnique(p.cycles, number) };
    if (now.stats !== null && was?.stats !== now.stats) p = { ...p, finishedCycles: addUnique(p.finishedCycles, number) };
    for (const id of now.order) {
      const old = was?.candidates[id];
      const c = now.candidates[id];
      if (!c || old === c) continue;
      p = { ...p, candidates: addUnique(p.candidates, key(number, id)) };
      if (old ? old.verdict !== c.verdict : c.verdict !== null) {
        // A later verdict on the same candidate in the same batch replaces the earlier one in the message.
        p = { ...p, verdicts: [...p.verdicts.filter((v) => !(v.cycle === number && v.candidate === id)), { cycle: number, candidate: id, verdict: c.verdict }] };
      }
      if (c.annotations.length > (old?.annotations.length ?? 0)) p = { ...p, annotations: [...p.annotations, { cycle: number, candidate: id }] };
    }
  }
  return p;
}

/** Counts for a cycle's commit message, from its candidates (stats, when present, are the backend's own view). */
function cycleSummary(state: MirrorState, cycle: number): string {
  const view = state.fold.cycles[cycle];
  const candidates = Object.values(view?.candidates ?? {});
  const stats = view?.stats;
  const generated = stats?.generated ?? candidates.filter((c) => c.status !== 'started').length;
  const valid = stats?.valid ?? candidates.filter((c) => c.outcome !== null && c.status !== 'invalid').length;
  const selected = view?.selected.length ?? 0;
  const accuracies = candidates.map((c) => c.accuracy).filter((a): a is number => a !== null);
  const best = stats?.bestAcc ?? (accuracies.length ? Math.max(...accuracies) : null);
  const bestPart = best === null ? '' : ` (best ${best.toFixed(1)}%)`;
  return `cycle ${cycle}: ${generated} generated, ${valid} valid, ${selected} selected${bestPart}`;
}

function reviewSubject(pending: PendingChanges): string | undefined {
  const parts: string[] = [];
  if (pending.verdicts.length) {
    parts.push(`verdicts: ${pending.verdicts.map((v) => `${v.verdict ?? 'clear'} ${v.candidate}`).join(', ')}`);
  }
  const annotated = [...new Set(pending.annotations.map((a) => a.candidate))];
  if (annotated.length) parts.push(`annotations: ${annotated.join(', ')}`);
  return parts.length ? parts.join('; ') : undefined;
}

function runSubject(run: RunRecord): string {
  const plan = run.plannedCycles !== null ? `, ${run.plannedCycles} cycles x ${run.candidatesPerCycle ?? '?'}` : '';
  return `run ${run.run} created: ${run.name ?? 'unnamed'}${run.model ? ` (${run.model}${plan})` : ''}`;
}

/**
 * Turns pending changes into writes and commits, and clears them. `closing` also commits an unfinished cycle's
 * candidates ("in progress"), so nothing written is left uncommitted when the mirror is closed.
 */
export function takeBatch(state: MirrorState, closing = false): { state: MirrorState; batch: MirrorBatch } {
  const p = state.pending;
  const writes: FileWrite[] = [];
  for (const [k, code] of Object.entries(p.code)) {
    const [cycle, candidate] = splitKey(k);
    writes.push({ path: candidateCodePath(cycle, candidate), content: code });
  }
  for (const k of p.candidates) {
    const [cycle, candidate] = splitKey(k);
    const view = state.fold.cycles[cycle]?.candidates[candidate];
    if (view) writes.push({ path: candidateMetaPath(cycle, candidate), content: toJsonFile(candidateRecord(view)) });
  }
  for (const cycle of p.cycles) {
    const view = state.fold.cycles[cycle];
    if (view) writes.push({ path: cycleMetaPath(cycle), content: toJsonFile(cycleRecord(view)) });
  }
  const run = runRecord(state.fold);
  if (p.runDirty) writes.push({ path: RUN_FILE, content: toJsonFile(run) });

  const commits: PlannedCommit[] = [];
  const review = reviewSubject(p);
  const reviewPaths = [...new Set([...p.verdicts, ...p.annotations].map((v) => candidateMetaPath(v.cycle, v.candidate)))];
  const body = (lines: (string | undefined)[]): string[] => lines.filter((l): l is string => l !== undefined);

  if (p.created) commits.push({ message: [runSubject(run)], paths: 'all', allowEmpty: true });
  // Review changes go first, alone, so their commit holds exactly the verdicts/annotations it names.
  if (review && (p.finishedCycles.length > 0 || !closing)) commits.push({ message: [review], paths: [...reviewPaths, RUN_FILE] });
  for (const cycle of p.finishedCycles) {
    const adapter = state.fold.cycles[cycle]?.finetuneAdapter;
    commits.push({ message: body([cycleSummary(state, cycle), adapter ? `adapter: ${adapter}` : undefined]), paths: 'all', tag: `cycle-${cycle}` });
  }
  if (p.finished) {
    const cycles = Object.values(state.fold.cycles).filter((c) => c.stats !== null).length;
    commits.push({ message: [`run ${run.run} ${run.finished ?? 'finished'} after ${cycles} cycles`], paths: 'all', allowEmpty: true });
  }
  if (closing && !p.finished) {
    const open = Object.values(state.fold.cycles).filter((c) => c.stats === null).map((c) => c.cycle);
    const subject = open.length ? `${cycleSummary(state, Math.max(...open)).replace(/^cycle (\d+):/, 'cycle $1 in progress:')}` : undefined;
    commits.push({ message: body([subject ?? review ?? `run ${run.run}: mirror closed`, subject ? review : undefined]), paths: 'all' });
  }
  return { state: { ...state, pending: NO_CHANGES }, batch: { writes, commits } };
}

function splitKey(k: string): [number, string] {
  const slash = k.indexOf('/');
  return [Number(k.slice(0, slash)), k.slice(slash + 1)];
}
