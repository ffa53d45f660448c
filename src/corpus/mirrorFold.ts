/**
 * The git mirror as a pure fold over a run's `Event` stream. `foldMirror` updates the records and remembers what
 * changed; `takeBatch` turns what changed into file writes and planned commits (with their messages and tags) and
 * clears it. The writer (gitMirror.ts) only performs them, so every decision about content and history is tested
 * here without git.
 *
 * Commit policy: one commit per finished cycle (tagged `cycle-N`), one per batch of verdicts/annotations (only the
 * touched candidates' metadata), one when the run is created or finishes. Candidates of an unfinished cycle are
 * written to the working tree as they arrive but committed with their cycle (or, on close, as "in progress").
 * Repeated events (seq <= lastSeq) and events of another run are ignored; nothing here throws.
 */
import type { Event, EventOf, Verdict } from '../protocol/messages';
import {
  RUN_FILE,
  candidateCodePath,
  candidateMetaPath,
  cycleMetaPath,
  emptyCandidateRecord,
  emptyCycleRecord,
  emptyRunRecord,
  toJsonFile,
  type CandidateRecord,
  type CandidateStatus,
  type CycleRecord,
  type RunRecord,
} from './mirrorRecords';

export interface MirrorCycle {
  readonly record: CycleRecord;
  readonly candidates: Readonly<Record<string, CandidateRecord>>;
}

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
  readonly run: RunRecord;
  readonly cycles: Readonly<Record<number, MirrorCycle>>;
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
  return { run: emptyRunRecord(run), cycles: {}, pending: NO_CHANGES };
}

/** Rebuilds fold state from records read back from disk (a reopened mirror continues where it stopped). */
export function mirrorStateFromRecords(run: RunRecord, cycles: readonly { record: CycleRecord; candidates: readonly CandidateRecord[] }[]): MirrorState {
  const byCycle: Record<number, MirrorCycle> = {};
  for (const cycle of cycles) {
    byCycle[cycle.record.cycle] = {
      record: cycle.record,
      candidates: Object.fromEntries(cycle.candidates.map((c) => [c.candidate, c])),
    };
  }
  return { run, cycles: byCycle, pending: NO_CHANGES };
}

/** True when a batch would write or commit something. */
export function hasPendingChanges(state: MirrorState): boolean {
  const p = state.pending;
  return p.runDirty || p.candidates.length > 0 || p.cycles.length > 0 || Object.keys(p.code).length > 0;
}

const key = (cycle: number, candidate: string): string => `${cycle}/${candidate}`;
const addUnique = <T>(list: readonly T[], item: T): readonly T[] => (list.includes(item) ? list : [...list, item]);

const STATUS_RANK: Record<CandidateStatus, number> = { started: 0, generated: 1, invalid: 2, duplicate: 2, novel: 2, trained: 3, failed: 3 };
const advance = (current: CandidateStatus, next: CandidateStatus): CandidateStatus => (STATUS_RANK[next] >= STATUS_RANK[current] ? next : current);

function withCycle(state: MirrorState, cycle: number, update: (record: CycleRecord) => CycleRecord): MirrorState {
  const existing = state.cycles[cycle] ?? { record: emptyCycleRecord(cycle), candidates: {} };
  return {
    ...state,
    cycles: { ...state.cycles, [cycle]: { ...existing, record: update(existing.record) } },
    pending: { ...state.pending, cycles: addUnique(state.pending.cycles, cycle) },
  };
}

function withCandidate(state: MirrorState, cycle: number, candidate: string, update: (record: CandidateRecord) => CandidateRecord): MirrorState {
  const existing = state.cycles[cycle] ?? { record: emptyCycleRecord(cycle), candidates: {} };
  const record = update(existing.candidates[candidate] ?? emptyCandidateRecord(cycle, candidate));
  const cycleWasNew = state.cycles[cycle] === undefined;
  return {
    ...state,
    cycles: { ...state.cycles, [cycle]: { ...existing, candidates: { ...existing.candidates, [candidate]: record } } },
    pending: {
      ...state.pending,
      candidates: addUnique(state.pending.candidates, key(cycle, candidate)),
      cycles: cycleWasNew ? addUnique(state.pending.cycles, cycle) : state.pending.cycles,
    },
  };
}

/** Folds one event in. Returns `state` itself for a repeat or another run's event. */
export function foldMirror(state: MirrorState, event: Event): MirrorState {
  if (event.run !== state.run.run || event.seq <= state.run.lastSeq) return state;
  const next = foldKind(state, event);
  return { ...next, run: { ...next.run, lastSeq: event.seq }, pending: { ...next.pending, runDirty: true } };
}

function foldKind(state: MirrorState, event: Event): MirrorState {
  switch (event.kind) {
    case 'run.created': {
      const d = event.data;
      return {
        ...state,
        run: { ...state.run, name: d.name, model: d.model, preset: d.preset, protocol: d.protocol, plannedCycles: d.cycles, candidatesPerCycle: d.candidatesPerCycle, config: d.config },
        pending: { ...state.pending, created: true },
      };
    }
    case 'cycle.started':
      return withCycle(state, event.data.cycle, (r) => ({ ...r, planned: event.data.candidates, adapter: event.data.adapter }));
    case 'candidate.started':
      return withCandidate(state, event.data.cycle, event.data.candidate, (c) => ({ ...c, index: event.data.index }));
    case 'candidate.generated': {
      const { cycle, candidate, code, attempts, tokens, seconds } = event.data;
      const next = withCandidate(state, cycle, candidate, (c) => ({ ...c, status: advance(c.status, 'generated'), generation: { attempts, tokens, seconds } }));
      return { ...next, pending: { ...next.pending, code: { ...next.pending.code, [key(cycle, candidate)]: code } } };
    }
    case 'candidate.validated': {
      const { ok, outcome, message, line, params } = event.data;
      return withCandidate(state, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        status: ok ? advance(c.status, 'generated') : advance(c.status, 'invalid'),
        outcome,
        message,
        line,
        params,
      }));
    }
    case 'candidate.novelty': {
      const { maxJaccard, novel, signature, nearest } = event.data;
      return withCandidate(state, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        status: c.status === 'invalid' ? c.status : advance(c.status, novel ? 'novel' : 'duplicate'),
        novelty: { maxJaccard, novel, signature },
        nearest,
      }));
    }
    case 'candidate.evaluated': {
      const { outcome, accuracy, params, trainSeconds, evalSeconds, peakMemoryMB, imagesPerSecond, message } = event.data;
      return withCandidate(state, event.data.cycle, event.data.candidate, (c) => ({
        ...c,
        status: advance(c.status, outcome === 'ok' ? 'trained' : 'failed'),
        outcome,
        accuracy,
        params: params ?? c.params,
        message,
        training: { trainSeconds, evalSeconds, peakMemoryMB, imagesPerSecond },
      }));
    }
    case 'candidate.verdict':
      return foldVerdict(state, event);
    case 'candidate.annotated': {
      const { cycle, candidate, text, tags } = event.data;
      const next = withCandidate(state, cycle, candidate, (c) => ({ ...c, annotations: [...c.annotations, { text, tags, ts: event.ts }] }));
      return { ...next, pending: { ...next.pending, annotations: [...next.pending.annotations, { cycle, candidate }] } };
    }
    case 'cycle.selected': {
      const { cycle, selected, reasons } = event.data;
      let next = withCycle(state, cycle, (r) => ({ ...r, selected }));
      for (const id of selected) next = withCandidate(next, cycle, id, (c) => ({ ...c, selected: true, selectReason: reasons[id] ?? null }));
      return next;
    }
    case 'finetune.progress':
      return state; // progress is for live views; the mirror keeps only the finished adapter
    case 'finetune.done':
      return withCycle(state, event.data.cycle, (r) => ({ ...r, finetuneAdapter: event.data.adapter }));
    case 'cycle.finished': {
      const next = withCycle(state, event.data.cycle, (r) => ({ ...r, stats: event.data.stats }));
      return { ...next, pending: { ...next.pending, finishedCycles: addUnique(next.pending.finishedCycles, event.data.cycle) } };
    }
    case 'run.finished':
      return { ...state, run: { ...state.run, finished: event.data.reason }, pending: { ...state.pending, finished: true } };
    case 'run.error': {
      const { message, stage, fatal } = event.data;
      return { ...state, run: { ...state.run, errors: [...state.run.errors, { message, stage, fatal }] } };
    }
  }
}

function foldVerdict(state: MirrorState, event: EventOf<'candidate.verdict'>): MirrorState {
  const { cycle, candidate, verdict } = event.data;
  const next = withCandidate(state, cycle, candidate, (c) => ({ ...c, verdict }));
  // A later verdict on the same candidate in the same batch replaces the earlier one in the message.
  const verdicts = [...next.pending.verdicts.filter((v) => !(v.cycle === cycle && v.candidate === candidate)), { cycle, candidate, verdict }];
  return { ...next, pending: { ...next.pending, verdicts } };
}

/** Counts for a cycle's commit message, from its candidates (stats, when present, are the backend's own view). */
function cycleSummary(state: MirrorState, cycle: number): string {
  const mirror = state.cycles[cycle];
  const candidates = Object.values(mirror?.candidates ?? {});
  const stats = mirror?.record.stats;
  const generated = stats?.generated ?? candidates.filter((c) => c.status !== 'started').length;
  const valid = stats?.valid ?? candidates.filter((c) => c.outcome !== null && c.status !== 'invalid').length;
  const selected = mirror?.record.selected.length ?? 0;
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
    const record = state.cycles[cycle]?.candidates[candidate];
    if (record) writes.push({ path: candidateMetaPath(cycle, candidate), content: toJsonFile(record) });
  }
  for (const cycle of p.cycles) {
    const record = state.cycles[cycle]?.record;
    if (record) writes.push({ path: cycleMetaPath(cycle), content: toJsonFile(record) });
  }
  if (p.runDirty) writes.push({ path: RUN_FILE, content: toJsonFile(state.run) });

  const commits: PlannedCommit[] = [];
  const review = reviewSubject(p);
  const reviewPaths = [...new Set([...p.verdicts, ...p.annotations].map((v) => candidateMetaPath(v.cycle, v.candidate)))];
  const body = (lines: (string | undefined)[]): string[] => lines.filter((l): l is string => l !== undefined);

  if (p.created) commits.push({ message: [runSubject(state.run)], paths: 'all', allowEmpty: true });
  // Review changes go first, alone, so their commit holds exactly the verdicts/annotations it names.
  if (review && (p.finishedCycles.length > 0 || !closing)) commits.push({ message: [review], paths: [...reviewPaths, RUN_FILE] });
  for (const cycle of p.finishedCycles) {
    commits.push({ message: body([cycleSummary(state, cycle), state.cycles[cycle]?.record.finetuneAdapter ? `adapter: ${state.cycles[cycle]?.record.finetuneAdapter}` : undefined]), paths: 'all', tag: `cycle-${cycle}` });
  }
  if (p.finished) {
    const cycles = Object.values(state.cycles).filter((c) => c.record.stats !== null).length;
    commits.push({ message: [`run ${state.run.run} ${state.run.finished ?? 'finished'} after ${cycles} cycles`], paths: 'all', allowEmpty: true });
  }
  if (closing && !p.finished) {
    const open = Object.values(state.cycles).filter((c) => c.record.stats === null).map((c) => c.record.cycle);
    const subject = open.length ? `${cycleSummary(state, Math.max(...open)).replace(/^cycle (\d+):/, 'cycle $1 in progress:')}` : undefined;
    commits.push({ message: body([subject ?? review ?? `run ${state.run.run}: mirror closed`, subject ? review : undefined]), paths: 'all' });
  }
  return { state: { ...state, pending: NO_CHANGES }, batch: { writes, commits } };
}

function splitKey(k: string): [number, string] {
  const slash = k.indexOf('/');
  return [Number(k.slice(0, slash)), k.slice(slash + 1)];
}
