/**
 * Messages between the dashboard webview and its host (the extension), declared once and imported by both sides.
 * Each side validates what it receives with these schemas; an invalid message is reported and dropped, never thrown.
 *
 * The dashboard sees the run as the persistent events of `messages.ts`, minus the candidates' source code (the
 * dashboard never shows it, and 10,000 candidates' code would make the snapshot tens of megabytes).
 *
 * One module though over 400 lines: both sides of the webview boundary import one declaration of every message.
 */
import { z } from 'zod';
import {
  AdapterDeletedEvent,
  CandidateOrigin,
  AdapterKeptEvent,
  CandidateAnnotatedEvent,
  CycleCost,
  CycleStats,
  NoveltyMeasure,
  Outcome,
  CandidateEvaluatedEvent,
  CandidateRecheckedEvent,
  CandidateGeneratedEvent,
  CandidateNoveltyEvent,
  CandidateStartedEvent,
  CandidateValidatedEvent,
  CandidateVerdictEvent,
  CycleFinishedEvent,
  CycleSelectedEvent,
  CycleStartedEvent,
  FinetuneDoneEvent,
  FinetuneProgressEvent,
  EvalData,
  EvalProtocolName,
  Id,
  RecheckCancelledEvent,
  RecheckQueuedEvent,
  RunCreatedEvent,
  RunErrorEvent,
  RunFinishedEvent,
  RunPausedEvent,
  RunResumedEvent,
  RunStopRequestedEvent,
  RunTargetChangedEvent,
  Stream,
  TrainingOrigins,
  Verdict,
  type Event,
} from './messages';
import { ComparedRun, MAX_COMPARED_RUNS } from './comparison';
import { CandidateLabel } from './runFold';

/** `candidate.generated` as the dashboard gets it: the code replaced by its length. */
export const DashboardGeneratedEvent = CandidateGeneratedEvent.extend({
  data: CandidateGeneratedEvent.shape.data.omit({ code: true }).extend({ codeChars: z.int().min(0) }),
});

export const DashboardEvent = z.discriminatedUnion('kind', [
  RunCreatedEvent,
  CycleStartedEvent,
  CandidateStartedEvent,
  DashboardGeneratedEvent,
  CandidateValidatedEvent,
  CandidateNoveltyEvent,
  CandidateEvaluatedEvent,
  CandidateVerdictEvent,
  CandidateAnnotatedEvent,
  CycleSelectedEvent,
  FinetuneProgressEvent,
  FinetuneDoneEvent,
  CycleFinishedEvent,
  RunFinishedEvent,
  RunErrorEvent,
  RunPausedEvent,
  RunResumedEvent,
  RunTargetChangedEvent,
  RunStopRequestedEvent,
  AdapterKeptEvent,
  AdapterDeletedEvent,
  RecheckQueuedEvent,
  RecheckCancelledEvent,
  CandidateRecheckedEvent,
]);
export type DashboardEvent = z.infer<typeof DashboardEvent>;

/**
 * Maps a wire event to what the dashboard needs: drops the generated code and the layer graph (up to 2,000 nodes per
 * candidate; the layer graph panel reads it from the run's events), keeps everything else as is.
 */
export function toDashboardEvent(event: Event): DashboardEvent {
  if (event.kind === 'candidate.validated' && event.data.layers !== undefined) {
    const { layers: _layers, layersTruncated: _truncated, ...rest } = event.data;
    return { ...event, data: rest };
  }
  if (event.kind !== 'candidate.generated') return event;
  const { code, ...rest } = event.data;
  return { ...event, data: { ...rest, codeChars: code.length } };
}

/**
 * The live code stream of one candidate, cut to what the dashboard shows (the tail), so a chatty stream cannot flood
 * the webview. `offset` is the character offset of the end of `tail` in the candidate's text.
 */
export const DashboardStream = Stream.omit({ delta: true }).extend({ tail: z.string().max(4096) });
export type DashboardStream = z.infer<typeof DashboardStream>;

export function toDashboardStream(stream: Stream, keepChars = 2048): DashboardStream {
  const { delta, ...rest } = stream;
  return { ...rest, offset: stream.offset + delta.length, tail: delta.slice(-Math.min(keepChars, 4096)) };
}

// ---- the dashboard's state, as the snapshot carries it ----------------------------------------------------------
// A snapshot is the folded state, not the event log: 10,000 candidates are ~45,000 events (9 MB) but 10,000 rows
// (~3 MB), and the webview then validates rows instead of replaying the log, which keeps its first render fast.

const Percent = z.number().min(0).max(100);
const MaybeText = z.string().max(64 * 1024).nullable();


export const CandidateRow = z.object({
  /** `${cycle}/${id}`: the pair is what the protocol guarantees unique. */
  key: z.string().max(300),
  cycle: z.int().min(0),
  id: Id,
  /** The candidate's name in the views (runFold.ts labelOf), or `selected`; `invalid`/`failed` carry their outcome class in `errorClass`. */
  status: CandidateLabel,
  errorClass: Outcome.nullable(),
  message: MaybeText,
  accuracy: Percent.nullable(),
  params: z.int().min(0).nullable(),
  trainSeconds: z.number().min(0).nullable(),
  maxJaccard: z.number().min(0).max(1).nullable(),
  nearest: z.string().max(256).nullable(),
  verdict: Verdict.nullable(),
  annotation: z.string().max(64 * 1024),
  tags: z.array(z.string().min(1).max(64)).max(32),
  // What the detail pane explains: the novelty verdict, attempts, selection rule, training cost, the accuracy's data.
  novel: z.boolean().nullable(),
  attempts: z.int().min(1).nullable(),
  selectReason: z.enum(['threshold', 'fallback', 'accepted']).nullable(),
  evalSeconds: z.number().min(0).nullable(),
  peakMemoryMB: z.number().min(0).nullable(),
  evaluatedOn: z.object({ data: EvalData.nullable(), protocol: EvalProtocolName.nullable(), epochs: z.int().min(1).nullable() }).nullable(),
  /** Who wrote it, and the candidate a human-written one was edited from. */
  origin: CandidateOrigin,
  parent: Id.nullable(),
  /** Novelty three ways, each with its score, nearest and verdict, and the sentence that says which calls it a duplicate. */
  measures: z.array(NoveltyMeasure).max(3),
  noveltyExplanation: z.string().max(512).nullable(),
});
export type CandidateRow = z.infer<typeof CandidateRow>;

export const Stage = z.enum(['waiting', 'idle', 'generating', 'validating', 'novelty', 'evaluating', 'selecting', 'finetuning', 'finished', 'stopped', 'failed']);
export type Stage = z.infer<typeof Stage>;

export const LossPoint = z.object({ step: z.int().min(0), loss: z.number() });
export type LossPoint = z.infer<typeof LossPoint>;

/** Points kept of each earlier cycle's loss curve, and how many earlier cycles are kept. */
export const LOSS_HISTORY_POINTS = 200;
export const LOSS_HISTORY_CYCLES = 100;

/** The code the live view keeps per streaming candidate, and how many such candidates it tracks. */
export const LIVE_TAIL_CHARS = 2048;
export const MAX_LIVE_STREAMS = 64;

export const StreamTail = z.object({ candidate: Id, chars: z.int().min(0), tail: z.string().max(4096) });
export type StreamTail = z.infer<typeof StreamTail>;

export const LiveState = z.object({
  stage: Stage,
  cycle: z.int().min(0).nullable(),
  /** Candidates planned for the current cycle (N). */
  planned: z.int().min(0),
  generated: z.int().min(0),
  validated: z.int().min(0),
  validOk: z.int().min(0),
  noveltyChecked: z.int().min(0),
  evaluated: z.int().min(0),
  finetuneStep: z.int().min(0),
  finetuneTotal: z.int().min(0),
  finetuneLoss: z.number().nullable(),
  etaSeconds: z.number().min(0).nullable(),
  lossCurve: z.array(LossPoint).max(5000),
  /** Earlier cycles' fine-tune loss, one thinned curve per cycle, oldest first: the chart keeps them across cycles. */
  lossHistory: z.array(z.object({ cycle: z.int().min(0), points: z.array(LossPoint).max(LOSS_HISTORY_POINTS) })).max(LOSS_HISTORY_CYCLES).default([]),
  /** The candidate the code pane follows (one at a time, as the live tab does), with the tail of its code. */
  streaming: StreamTail.nullable(),
  /** Every candidate still streaming (batched sampling writes several at once), so a switch shows code at once. */
  streams: z.array(StreamTail).max(MAX_LIVE_STREAMS).default([]),
  /** Paused or stopping (run.paused, run.stop_requested) until run.resumed or the run ends; the stage stays as it was. */
  hold: z.enum(['none', 'paused', 'stopping']).default('none'),
  /** The run's clock, as the fold keeps it (runFold.ts): time running before `activeSince`, paused time left out. */
  activeMs: z.number().min(0).default(0),
  activeSince: z.number().min(0).nullable().default(null),
});
export type LiveState = z.infer<typeof LiveState>;

export const RunInfo = z.object({
  run: Id,
  name: z.string().max(256),
  model: z.string().max(512),
  cycles: z.int().min(0),
  candidatesPerCycle: z.int().min(0),
  protocol: z.enum(['paper', 'fast']),
  /** MinHash-Jaccard threshold at or above which a candidate counts as a near-duplicate. */
  noveltyThreshold: z.number().min(0).max(1),
});
export type RunInfo = z.infer<typeof RunInfo>;

export const RunError = z.object({ seq: z.int().min(1), message: z.string().max(64 * 1024), stage: z.string().max(64).nullable(), fatal: z.boolean() });
export type RunError = z.infer<typeof RunError>;

/** A cycle's costs and lineage (costs.ts CycleLedger). */
export const CycleLedgerRow = z.object({
  cycle: z.int().min(0),
  writer: Id.nullable(),
  adapter: Id.nullable(),
  trainedOn: TrainingOrigins.nullable(),
  trainedTokens: z.int().min(0).nullable(),
  loss: z.number().nullable(),
  cost: CycleCost.nullable(),
});

/** One longer evaluation of a candidate (candidate.rechecked), as rankCorrelation.ts RecheckRow. */
export const RecheckRowSchema = z.object({
  cycle: z.int().min(0),
  candidate: Id,
  recheck: Id,
  epochs: z.int().min(1),
  seed: z.int().min(0),
  outcome: Outcome,
  accuracy: z.number().min(0).max(100).nullable(),
});

export const DashboardSnapshot = z.object({
  /** Seq of the last event folded in; later `events` continue from here. */
  lastSeq: z.int().min(0),
  run: RunInfo.nullable(),
  cycles: z.array(CycleStats),
  candidates: z.array(CandidateRow),
  live: LiveState,
  errors: z.array(RunError).max(50),
  /** Per cycle: what it spent and what its fine-tune was trained on (absent from hosts before costs). */
  ledger: z.array(CycleLedgerRow).optional(),
  /** What ended the run in words (run.finished's detail: the budget reached), null while it runs. */
  endedBy: z.string().max(1000).nullable().optional(),
  /** Every re-check result, in seq order (absent from hosts before re-checks). */
  rechecks: z.array(RecheckRowSchema).optional(),
});
export type DashboardSnapshot = z.infer<typeof DashboardSnapshot>;

// ---- host -> webview -------------------------------------------------------------------------------------------

/** The complete state so far, sent once per `ready`; later `events` with a higher seq continue it. */
export const SnapshotMessage = z.object({ type: z.literal('snapshot'), state: DashboardSnapshot });
/** Persistent events in seq order; the webview drops any it has already applied (seq de-duplication). */
export const EventsMessage = z.object({ type: z.literal('events'), events: z.array(DashboardEvent).min(1) });
export const StreamMessage = z.object({ type: z.literal('stream'), stream: DashboardStream });
/** The outcome of an action the webview asked for, so a failed verdict is shown rather than silently lost. */
export const ActionResultMessage = z.object({
  type: z.literal('actionResult'),
  action: z.enum(['open', 'diff', 'verdict', 'annotate']),
  candidate: Id,
  ok: z.boolean(),
  message: z.string().max(4096).nullable(),
});

/**
 * The answer to a `code` request: a candidate's extracted code, the model's raw reply when it held more, and its
 * nearest neighbour's code, so the detail pane can show what the novelty filter compared. `message` says why a part
 * is missing (code not received yet, neighbour not readable).
 */
export const CandidateCodeMessage = z.object({
  type: z.literal('candidateCode'),
  cycle: z.int().min(0),
  candidate: Id,
  code: z.string().max(1024 * 1024).nullable(),
  raw: z.string().max(1024 * 1024).nullable(),
  nearest: z.string().max(256).nullable(),
  nearestCode: z.string().max(1024 * 1024).nullable(),
  message: z.string().max(4096).nullable(),
});
export type CandidateCodeMessage = z.infer<typeof CandidateCodeMessage>;

/** The runs shown side by side in the Compare tab (comparison.ts), sent whole whenever one of them changes. */
export const ComparisonMessage = z.object({
  type: z.literal('comparison'),
  runs: z.array(ComparedRun).max(MAX_COMPARED_RUNS),
  /** The user just chose these runs: show the Compare tab. */
  reveal: z.boolean(),
});
export type ComparisonMessage = z.infer<typeof ComparisonMessage>;

export const HostMessage = z.discriminatedUnion('type', [SnapshotMessage, EventsMessage, StreamMessage, ActionResultMessage, CandidateCodeMessage, ComparisonMessage]);
export type HostMessage = z.infer<typeof HostMessage>;

// ---- the snapshot's rows, checked fast -------------------------------------------------------------------------
// A snapshot carries ~10,000 rows of 14 fields, and zod (jitless under the webview's CSP) spent about half of the
// dashboard's first render on them. `isCandidateRow` checks one row by hand against exactly what `CandidateRow`
// accepts, and is stricter: it passes only plain rows with exactly the schema's keys (zod would strip extra keys), so
// a row it passes is one zod passes unchanged. Anything it does not pass goes through zod, which rejects it with its
// usual message (or strips what it would strip). test/unit/dashboardProtocol.test.ts holds the two checks together.

/** The pattern of `Id` (messages.ts); a unit test checks that both accept the same ids. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const STATUSES: ReadonlySet<unknown> = new Set(CandidateLabel.options);
const OUTCOMES: ReadonlySet<unknown> = new Set(Outcome.options);
const VERDICTS: ReadonlySet<unknown> = new Set(Verdict.options);
const SELECT_REASONS: ReadonlySet<unknown> = new Set(['threshold', 'fallback', 'accepted']);
const EVAL_DATA: ReadonlySet<unknown> = new Set(EvalData.options);
const EVAL_PROTOCOLS: ReadonlySet<unknown> = new Set(EvalProtocolName.options);
const ORIGINS: ReadonlySet<unknown> = new Set(CandidateOrigin.options);
const ROW_KEYS = Object.keys(CandidateRow.shape);
const TEXT_MAX = 64 * 1024;

const isText = (value: unknown, max: number): value is string => typeof value === 'string' && value.length <= max;
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isIn = (value: unknown, min: number, max: number): value is number => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;

/** True when `value` is a plain object with exactly `CandidateRow`'s keys and `CandidateRow.parse` would return it as is. */
export function isCandidateRow(value: unknown): value is CandidateRow {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false;
  const keys = Object.keys(value);
  if (keys.length !== ROW_KEYS.length) return false;
  for (const key of ROW_KEYS) if (!Object.prototype.hasOwnProperty.call(value, key)) return false;
  const row = value as Record<string, unknown>;
  const { id, tags } = row;
  if (!isText(row['key'], 300) || !isCount(row['cycle'])) return false;
  if (typeof id !== 'string' || id.length < 1 || id.length > 128 || !ID_PATTERN.test(id)) return false;
  if (!STATUSES.has(row['status'])) return false;
  if (row['errorClass'] !== null && !OUTCOMES.has(row['errorClass'])) return false;
  if (row['message'] !== null && !isText(row['message'], TEXT_MAX)) return false;
  if (row['accuracy'] !== null && !isIn(row['accuracy'], 0, 100)) return false;
  if (row['params'] !== null && !isCount(row['params'])) return false;
  if (row['trainSeconds'] !== null && !isIn(row['trainSeconds'], 0, Infinity)) return false;
  if (row['maxJaccard'] !== null && !isIn(row['maxJaccard'], 0, 1)) return false;
  if (row['nearest'] !== null && !isText(row['nearest'], 256)) return false;
  if (row['verdict'] !== null && !VERDICTS.has(row['verdict'])) return false;
  if (!isText(row['annotation'], TEXT_MAX)) return false;
  if (!Array.isArray(tags) || tags.length > 32 || Object.getPrototypeOf(tags) !== Array.prototype) return false;
  for (const tag of tags as unknown[]) if (typeof tag !== 'string' || tag.length < 1 || tag.length > 64) return false;
  if (row['novel'] !== null && typeof row['novel'] !== 'boolean') return false;
  if (row['attempts'] !== null && !(isCount(row['attempts']) && (row['attempts'] as number) >= 1)) return false;
  if (row['selectReason'] !== null && !SELECT_REASONS.has(row['selectReason'])) return false;
  if (row['evalSeconds'] !== null && !isIn(row['evalSeconds'], 0, Infinity)) return false;
  if (row['peakMemoryMB'] !== null && !isIn(row['peakMemoryMB'], 0, Infinity)) return false;
  if (!ORIGINS.has(row['origin'])) return false;
  if (row['parent'] !== null && !(typeof row['parent'] === 'string' && row['parent'].length <= 128 && ID_PATTERN.test(row['parent']))) return false;
  if (row['noveltyExplanation'] !== null && !isText(row['noveltyExplanation'], 512)) return false;
  if (!isMeasures(row['measures'])) return false;
  return row['evaluatedOn'] === null || isEvaluatedOn(row['evaluatedOn']);
}

const MEASURE_NAMES: ReadonlySet<unknown> = new Set(NoveltyMeasure.shape.measure.options);
const MEASURE_KEYS = Object.keys(NoveltyMeasure.shape);

function isMeasures(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > 3 || Object.getPrototypeOf(value) !== Array.prototype) return false;
  for (let i = 0; i < value.length; i++) {
    const m = value[i] as unknown;
    if (typeof m !== 'object' || m === null || Object.getPrototypeOf(m) !== Object.prototype) return false;
    const measure = m as Record<string, unknown>;
    if (Object.keys(measure).length !== MEASURE_KEYS.length) return false;
    if (!MEASURE_NAMES.has(measure['measure']) || !isIn(measure['score'], 0, 1)) return false;
    if (measure['nearest'] !== null && !isText(measure['nearest'], 256)) return false;
    if (typeof measure['duplicate'] !== 'boolean' || typeof measure['gate'] !== 'boolean') return false;
  }
  return true;
}

function isEvaluatedOn(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false;
  const on = value as Record<string, unknown>;
  if (Object.keys(on).length !== 3 || !('data' in on) || !('protocol' in on) || !('epochs' in on)) return false;
  if (on['data'] !== null && !EVAL_DATA.has(on['data'])) return false;
  if (on['protocol'] !== null && !EVAL_PROTOCOLS.has(on['protocol'])) return false;
  return on['epochs'] === null || (isCount(on['epochs']) && (on['epochs'] as number) >= 1);
}

/** Every element is a row (a loop, not `every`, which skips the holes of a sparse array; zod does not). */
function everyRow(rows: readonly unknown[]): boolean {
  for (let i = 0; i < rows.length; i++) if (!isCandidateRow(rows[i])) return false;
  return true;
}

/** The snapshot message with its rows left out, for the fast path of `parseHostMessage`. */
const SnapshotWithoutRows = z.object({ type: z.literal('snapshot'), state: DashboardSnapshot.omit({ candidates: true }) });

/**
 * `HostMessage.safeParse`, with the same result, but a snapshot's rows are checked by `isCandidateRow` rather than
 * zod when every one of them passes it (the rest of the snapshot still goes through zod). If any row does not pass,
 * the whole message goes through zod, so what is rejected, and the error that says why, are zod's.
 */
export function parseHostMessage(raw: unknown): ReturnType<typeof HostMessage.safeParse> {
  if (typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'snapshot') {
    const state = (raw as { state?: unknown }).state;
    const rows = typeof state === 'object' && state !== null ? (state as { candidates?: unknown }).candidates : undefined;
    if (Array.isArray(rows) && everyRow(rows)) {
      const rest = SnapshotWithoutRows.safeParse({ ...(raw as object), state: { ...(state as object), candidates: undefined } });
      if (rest.success) return { success: true, data: { ...rest.data, state: { ...rest.data.state, candidates: rows } } };
    }
  }
  return HostMessage.safeParse(raw);
}
export type SnapshotMessage = z.infer<typeof SnapshotMessage>;
export type EventsMessage = z.infer<typeof EventsMessage>;
export type ActionResultMessage = z.infer<typeof ActionResultMessage>;

// ---- webview -> host -------------------------------------------------------------------------------------------

const candidateRef = { cycle: z.int().min(0), candidate: Id };

/** The webview has loaded (or reloaded) and wants a snapshot. */
export const ReadyMessage = z.object({ type: z.literal('ready') });
export const OpenCandidateMessage = z.object({ type: z.literal('open'), ...candidateRef });
export const DiffCandidateMessage = z.object({ type: z.literal('diff'), ...candidateRef, nearest: z.string().max(256) });
export const VerdictMessage = z.object({ type: z.literal('verdict'), ...candidateRef, verdict: Verdict.nullable() });
export const AnnotateMessage = z.object({
  type: z.literal('annotate'),
  ...candidateRef,
  text: z.string().max(64 * 1024),
  tags: z.array(z.string().min(1).max(64)).max(32),
});
/** Asks for a candidate's code and its nearest neighbour's (answered by `candidateCode`); the dashboard holds no code. */
export const CodeRequestMessage = z.object({ type: z.literal('code'), ...candidateRef, nearest: z.string().max(256).nullable() });
/** The user wants to choose the runs to compare (the host asks, as the palette's Compare Runs… does). */
export const CompareMessage = z.object({ type: z.literal('compare') });
/** Something went wrong inside the webview (an invalid host message, a render error): for the host's log. */
export const WebviewErrorMessage = z.object({ type: z.literal('webviewError'), message: z.string().max(4096) });

export const WebviewMessage = z.discriminatedUnion('type', [
  ReadyMessage,
  OpenCandidateMessage,
  DiffCandidateMessage,
  VerdictMessage,
  AnnotateMessage,
  CodeRequestMessage,
  CompareMessage,
  WebviewErrorMessage,
]);
export type WebviewMessage = z.infer<typeof WebviewMessage>;
export type CandidateAction = Extract<WebviewMessage, { type: 'open' | 'diff' | 'verdict' | 'annotate' }>;

/** Parses an annotation's tag field ("a, b  c") into the tags the protocol accepts (trimmed, unique, bounded). */
export function parseTags(text: string): string[] {
  const tags = text
    .split(/[\s,]+/)
    .map((tag) => tag.trim().slice(0, 64))
    .filter((tag) => tag.length > 0);
  return [...new Set(tags)].slice(0, 32);
}

/** Describes the first problem zod found, short enough for a log line. */
export function describeInvalid(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid message';
  const where = issue.path.length ? issue.path.join('.') : '(root)';
  return `${where}: ${issue.message}`;
}
