/**
 * The wire protocol between the extension and `archloop attach` (docs/DESIGN.md, "The wire protocol").
 * This file is the single source of truth: the JSON Schema in remote-python/archloop/wire/wire_schema.json is generated
 * from it (`npm run schema`), and the Python side validates what it sends against that schema in its tests.
 *
 * One module though over 400 lines: the single source of the wire format, read as one document.
 */
import { z } from 'zod';

// ---- shared pieces ---------------------------------------------------------------------------------------------

/** Run, candidate and adapter ids: short, printable, safe as file and URI path segments. */
export const Id = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/);
const Cycle = z.int().min(0).max(100_000);
const Count = z.int().min(0);
const Seconds = z.number().min(0);
const Fraction = z.number().min(0).max(1);
/** Accuracy in percent, as the paper reports it. */
const Percent = z.number().min(0).max(100);
const Text = z.string().max(64 * 1024);
/** A candidate's source code. Generous, but bounded: the model's max_new_tokens keeps real code far below this. */
const Code = z.string().max(1024 * 1024);
const Interval = z.tuple([z.number(), z.number()]);

/** How a candidate ended in validation or evaluation (issue: sandbox outcome classes). */
export const Outcome = z.enum([
  'ok',
  'syntax_error',
  'contract_error',
  'import_error',
  'runtime_error',
  'shape_error',
  'nan_loss',
  'timeout',
  'out_of_memory',
  'crashed',
  'output_limit',
  'proxy_violation',
  'too_many_params',
]);
export type Outcome = z.infer<typeof Outcome>;

/**
 * How far a candidate got: each step is committed by the backend's run store before the next begins, and a resumed
 * run continues from it. The one candidate status vocabulary: the run store records exactly these
 * (run/store.py CANDIDATE_STATUSES, held equal by a backend test through the generated schema), and the extension's
 * views fold the same steps from the events (runFold.ts), naming finer states from the candidate's outcomes.
 *   generating  opened (candidate.started), code not yet complete
 *   generated   code complete (candidate.generated)
 *   invalid     failed validation (candidate.validated, ok false): final
 *   validated   passed validation (candidate.validated, ok true)
 *   checked     through the novelty filter (candidate.novelty)
 *   evaluated   trained and evaluated, successfully or not (candidate.evaluated)
 */
export const CandidateStatus = z.enum(['generating', 'generated', 'invalid', 'validated', 'checked', 'evaluated']);
export type CandidateStatus = z.infer<typeof CandidateStatus>;

/** The data set a candidate was trained and tested on. */
export const EvalData = z.enum(['synthetic', 'cifar10']);
export type EvalData = z.infer<typeof EvalData>;
/** The evaluation protocols (remote-python/archloop/evaluation/evaluate.py PROTOCOLS). */
export const EvalProtocolName = z.enum(['paper', 'fast']);

export const Verdict = z.enum(['accept', 'reject']);
export type Verdict = z.infer<typeof Verdict>;

/** Per-cycle statistics: the paper's six columns plus Wilson 95% intervals, failure counts and stage times. */
export const CycleStats = z.object({
  cycle: Cycle,
  generated: Count,
  valid: Count,
  validPct: Percent,
  validCI: Interval,
  trained: Count,
  bestAcc: Percent.nullable(),
  meanAcc: Percent.nullable(),
  atLeast40Pct: Percent.nullable(),
  atLeast40CI: Interval.nullable(),
  uniqueModels: Count,
  totalTrainPrompts: Count,
  failures: z.record(z.string().max(64), Count),
  stageSeconds: z.record(z.string().max(64), Seconds),
});
export type CycleStats = z.infer<typeof CycleStats>;

/** Where device time was spent: GPU-seconds on a GPU, CPU-seconds on a host without one. */
export const DeviceKind = z.enum(['gpu', 'cpu']);
export type DeviceKind = z.infer<typeof DeviceKind>;

/** The pairs an adapter was trained on, counted by where each came from. */
export const TrainingOrigins = z.object({
  lemur: Count,
  seed: Count,
  selected: Count,
  /** Accepted by a person (a verdict, or a net written in the editor), whether or not the rule selected it. */
  accepted: Count,
  /** Of the selected and accepted, how many were written by a person (candidate.submit); absent when none. */
  human: Count.optional(),
});
export type TrainingOrigins = z.infer<typeof TrainingOrigins>;

/**
 * What one cycle spent, per stage. Device-seconds are the time the LLM (generation, fine-tune) or a candidate's
 * training held its device; `llmDevice`/`evalDevice` say whether that is GPU or CPU time.
 */
export const CycleCost = z.object({
  llmDevice: DeviceKind,
  evalDevice: DeviceKind,
  generation: z.object({ seconds: Seconds, tokens: Count }),
  validation: z.object({ seconds: Seconds }),
  novelty: z.object({ seconds: Seconds, checked: Count, novel: Count }),
  evaluation: z.object({ seconds: Seconds, deviceSeconds: Seconds, evaluated: Count }),
  finetune: z.object({ seconds: Seconds, tokens: Count, pairs: Count }),
  /** Generation + evaluation + fine-tune device time. */
  deviceSeconds: Seconds,
  /** Tokens generated plus tokens fine-tuned on. */
  tokens: Count,
  /** Novel nets (not let through) at >= 40 % accuracy, and the device time spent per one (null with none). */
  novel40: Count,
  deviceSecondsPerNovel40: Seconds.nullable(),
});
export type CycleCost = z.infer<typeof CycleCost>;

// ---- hello -----------------------------------------------------------------------------------------------------

export const Hello = z.object({
  type: z.literal('hello'),
  protocol: z.int().min(1),
  role: z.enum(['client', 'server']),
  software: z.string().max(128),
  run: Id.optional(),
});
export type Hello = z.infer<typeof Hello>;

// ---- events (persistent, numbered) -----------------------------------------------------------------------------

const candidateRef = { cycle: Cycle, candidate: Id };

/** Who wrote a candidate: the model, or a person who submitted it from the editor (candidate.submit). */
export const CandidateOrigin = z.enum(['model', 'human']);
export type CandidateOrigin = z.infer<typeof CandidateOrigin>;
/**
 * On the events of a human-written candidate (absent on the model's): its origin and the candidate it was edited
 * from (null for one written from scratch).
 */
const provenance = { origin: CandidateOrigin.optional(), parent: Id.nullable().optional() };

const eventBody = {
  type: z.literal('event'),
  /** Assigned by the run store at commit; strictly increasing per run. Clients de-duplicate by it. */
  seq: z.int().min(1),
  run: Id,
  /** Commit time, Unix milliseconds. */
  ts: z.number().min(0),
};

function event<K extends string, D extends z.ZodRawShape>(kind: K, data: D) {
  return z.object({ ...eventBody, kind: z.literal(kind), data: z.object(data) });
}

export const RunCreatedEvent = event('run.created', {
  name: z.string().max(256),
  preset: z.string().max(64).nullable(),
  model: z.string().max(512),
  cycles: Count,
  candidatesPerCycle: Count,
  protocol: z.enum(['paper', 'fast']),
  executor: z.string().max(64),
  config: z.record(z.string().max(128), z.unknown()),
});
/**
 * A setting of the run's config as run.created carries it (the backend's `RunConfig.to_dict()`: one object per
 * section, `{novelty: {threshold: 0.85}}`), or undefined when the section or key is missing.
 */
export function runSetting(config: Readonly<Record<string, unknown>>, section: string, key: string): unknown {
  const values = config[section];
  return typeof values === 'object' && values !== null && !Array.isArray(values) ? (values as Record<string, unknown>)[key] : undefined;
}

export const CycleStartedEvent = event('cycle.started', { cycle: Cycle, candidates: Count, adapter: Id.nullable() });
export const CandidateStartedEvent = event('candidate.started', { ...candidateRef, index: Count, ...provenance });
export const CandidateGeneratedEvent = event('candidate.generated', {
  ...candidateRef,
  /** The module extracted from the model's reply: what is checked, evaluated and trained on. */
  code: Code,
  /** The model's reply as generated, when it holds more than `code` (fences, prose, demo code). */
  raw: Code.optional(),
  attempts: z.int().min(1),
  tokens: Count,
  seconds: Seconds,
  /** The adapter (cycle-N) that wrote it; null for the base model (absent in runs recorded before). */
  adapter: Id.nullable().optional(),
  ...provenance,
});
/**
 * One leaf module call of the validation forward (remote-python/archloop/evaluation/layers.py): qualified name, type,
 * own parameters, output shape (null when the output is no tensor), the earlier calls whose outputs it consumed
 * (indices into the list), and the candidate line that constructed the module (null when the source does not say).
 */
export const LayerNode = z.object({
  name: z.string().max(200),
  type: z.string().max(64),
  params: Count,
  shape: z.array(Count).max(8).nullable(),
  inputs: z.array(Count).max(8),
  line: z.int().min(1).nullable(),
});
export type LayerNode = z.infer<typeof LayerNode>;
export const MAX_LAYER_NODES = 2000;
export const CandidateValidatedEvent = event('candidate.validated', {
  ...candidateRef,
  ok: z.boolean(),
  outcome: Outcome,
  message: Text.nullable(),
  line: z.int().min(0).nullable(),
  params: Count.nullable(),
  /** Seconds its validation took. */
  seconds: Seconds.optional(),
  /** The layer graph of a net that passed (absent on failures and on runs recorded before); truncated past the cap. */
  layers: z.array(LayerNode).max(MAX_LAYER_NODES).optional(),
  layersTruncated: z.boolean().optional(),
  ...provenance,
});
/** One way of measuring novelty: token MinHash-Jaccard, AST structure (exact match) or layer-graph similarity. */
export const NoveltyMeasure = z.object({
  measure: z.enum(['minhash', 'structure', 'graph']),
  score: Fraction,
  nearest: z.string().max(256).nullable(),
  /** Whether this measure calls the candidate a duplicate of `nearest`. */
  duplicate: z.boolean(),
  /** Whether this measure is in `[novelty] gate`, i.e. decides `novel`. */
  gate: z.boolean(),
});
export type NoveltyMeasure = z.infer<typeof NoveltyMeasure>;
export const CandidateNoveltyEvent = event('candidate.novelty', {
  ...candidateRef,
  maxJaccard: Fraction,
  nearest: z.string().max(256).nullable(),
  novel: z.boolean(),
  signature: z.string().max(128),
  /** Novelty three ways (absent on runs recorded before); maxJaccard and nearest repeat the minhash one. */
  measures: z.array(NoveltyMeasure).max(3).optional(),
  /** Which measure calls it a duplicate and why, in one sentence. */
  explanation: z.string().max(512).optional(),
  ...provenance,
});
export const CandidateEvaluatedEvent = event('candidate.evaluated', {
  ...candidateRef,
  outcome: Outcome,
  accuracy: Percent.nullable(),
  params: Count.nullable(),
  trainSeconds: Seconds.nullable(),
  evalSeconds: Seconds.nullable(),
  peakMemoryMB: z.number().min(0).nullable(),
  imagesPerSecond: z.number().min(0).nullable(),
  message: Text.nullable(),
  /** What the accuracy was measured on: the demo's generated set or CIFAR-10 (absent in runs recorded before it). */
  data: EvalData.optional(),
  /** The evaluation protocol (the paper's or the fast proxy) and how many epochs it trained. */
  protocol: EvalProtocolName.optional(),
  epochs: z.int().min(1).optional(),
  /** The device it trained on and the time it held it (train + test): GPU-seconds on a GPU, else CPU-seconds. */
  device: DeviceKind.optional(),
  deviceSeconds: Seconds.optional(),
  ...provenance,
});
export const CandidateVerdictEvent = event('candidate.verdict', { ...candidateRef, verdict: Verdict.nullable() });
export const CandidateAnnotatedEvent = event('candidate.annotated', {
  ...candidateRef,
  text: Text,
  tags: z.array(z.string().min(1).max(64)).max(32),
});
export const CycleSelectedEvent = event('cycle.selected', {
  cycle: Cycle,
  selected: z.array(Id),
  /** Which rule let each selected candidate in: the accuracy threshold, the fallback threshold, or a human accept. */
  reasons: z.record(Id, z.enum(['threshold', 'fallback', 'accepted'])),
  totalTrainPrompts: Count,
});
export const FinetuneProgressEvent = event('finetune.progress', {
  cycle: Cycle,
  step: Count,
  total: Count,
  loss: z.number().nullable(),
  etaSeconds: Seconds.nullable(),
});
export const FinetuneDoneEvent = event('finetune.done', {
  cycle: Cycle,
  adapter: Id,
  steps: Count,
  loss: z.number().nullable(),
  seconds: Seconds,
  /** Tokens trained on (every epoch's, padding excluded). */
  tokens: Count.optional(),
  /** The pairs it was trained on, by origin. */
  pairsByOrigin: TrainingOrigins.optional(),
});
export const CycleFinishedEvent = event('cycle.finished', { cycle: Cycle, stats: CycleStats, cost: CycleCost.optional() });
/** 'budget': a `[run] budget_*` was reached; `detail` names it ("budget: 2 GPU-hours reached after 2.01 h"). */
export const RunFinishedEvent = event('run.finished', {
  reason: z.enum(['completed', 'stopped', 'budget']),
  cycles: Count,
  detail: Text.optional(),
});
/** The run was paused: it waits before its next step until resumed or stopped. */
export const RunPausedEvent = event('run.paused', {});
/** The run runs again: resumed after a pause, or started again after it had stopped, finished or failed. */
export const RunResumedEvent = event('run.resumed', {});
/** The run's target number of cycles changed (Run Next Cycles, or a start that asked for more). */
export const RunTargetChangedEvent = event('run.target_changed', { cycles: Count });
/** A stop was asked for: the run ends after its current step (run.finished 'stopped' follows). */
export const RunStopRequestedEvent = event('run.stop_requested', {});
export const RunErrorEvent = event('run.error', { message: Text, stage: z.string().max(64).nullable(), fatal: z.boolean() });
/** A cycle's adapter marked (or unmarked) to be kept: retention never deletes a kept adapter. */
export const AdapterKeptEvent = event('adapter.kept', { cycle: Cycle, adapter: Id, keep: z.boolean() });
/** Retention deleted a cycle's adapter files (the last `[sft] keep_adapters` cycles' and kept ones stay). */
export const AdapterDeletedEvent = event('adapter.deleted', { cycle: Cycle, adapter: Id, bytes: Count });

/** A longer evaluation of named candidates was queued (`candidate.recheck`): E epochs for each of the listed seeds. */
export const RecheckQueuedEvent = event('recheck.queued', {
  recheck: Id,
  candidates: z.array(Id).min(1).max(1000),
  epochs: z.int().min(1).max(1000),
  seeds: z.array(z.int().min(0)).min(1).max(100),
});
/** A queued re-check was cancelled (`recheck.cancel`): what it had not yet run never runs. */
export const RecheckCancelledEvent = event('recheck.cancelled', { recheck: Id });
/** One re-check evaluation of a candidate: `epochs` epochs under one seed, beside its one-epoch proxy figure. */
export const CandidateRecheckedEvent = event('candidate.rechecked', {
  ...candidateRef,
  recheck: Id,
  epochs: z.int().min(1),
  seed: z.int().min(0),
  outcome: Outcome,
  accuracy: Percent.nullable(),
  trainSeconds: Seconds.nullable(),
  message: Text.nullable(),
});

export const Event = z.discriminatedUnion('kind', [
  RunCreatedEvent,
  CycleStartedEvent,
  CandidateStartedEvent,
  CandidateGeneratedEvent,
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
export type Event = z.infer<typeof Event>;
export type EventKind = Event['kind'];
export type EventOf<K extends EventKind> = Extract<Event, { kind: K }>;

// ---- streams (ephemeral token deltas) --------------------------------------------------------------------------

export const Stream = z.object({
  type: z.literal('stream'),
  run: Id,
  ...candidateRef,
  /** Character offset of `delta` in the candidate's text so far: a client that sees a gap knows it missed a piece. */
  offset: Count,
  delta: z.string().max(256 * 1024),
  done: z.boolean(),
});
export type Stream = z.infer<typeof Stream>;

// ---- requests and responses ------------------------------------------------------------------------------------

const RequestId = z.union([z.int().min(0), z.string().min(1).max(64)]);

function request<M extends string, P extends z.ZodRawShape>(method: M, params: P) {
  return z.object({ type: z.literal('request'), id: RequestId, method: z.literal(method), params: z.object(params) });
}

export const RunStartRequest = request('run.start', { cycles: z.int().min(1).max(10_000).optional() });
export const RunStopRequest = request('run.stop', {});
export const RunPauseRequest = request('run.pause', {});
export const RunResumeRequest = request('run.resume', {});
export const CycleRunRequest = request('cycle.run', { count: z.int().min(1).max(10_000) });
export const CandidateVerdictRequest = request('candidate.verdict', { candidate: Id, verdict: Verdict.nullable() });
export const CandidateAnnotateRequest = request('candidate.annotate', {
  candidate: Id,
  text: Text,
  tags: z.array(z.string().min(1).max(64)).max(32),
});
export const RunStatusRequest = request('run.status', {});
export const RunsListRequest = request('runs.list', { root: z.string().max(4096).optional() });
export const AdapterKeepRequest = request('adapter.keep', { cycle: Cycle, keep: z.boolean() });
/**
 * A human-written candidate: it joins the current cycle while that is still generating ('current', the default) or
 * the next one, and goes through the same validation, sandbox, novelty and selection as the model's.
 */
export const CandidateSubmitRequest = request('candidate.submit', {
  code: Code,
  parent: Id.optional(),
  cycle: z.enum(['current', 'next']).optional(),
});

/** Queue a longer evaluation (E epochs, S seeds) of the named candidates, or of the top K of a cycle by accuracy. */
export const CandidateRecheckRequest = request('candidate.recheck', {
  candidates: z.union([z.array(Id).min(1).max(1000), z.object({ cycle: Cycle, top_k: z.int().min(1).max(1000) })]),
  epochs: z.int().min(1).max(1000),
  seeds: z.int().min(1).max(100),
});
export const RecheckCancelRequest = request('recheck.cancel', { recheck: Id });

export const Request = z.discriminatedUnion('method', [
  RunStartRequest,
  RunStopRequest,
  RunPauseRequest,
  RunResumeRequest,
  CycleRunRequest,
  CandidateVerdictRequest,
  CandidateAnnotateRequest,
  RunStatusRequest,
  RunsListRequest,
  AdapterKeepRequest,
  CandidateRecheckRequest,
  RecheckCancelRequest,
  CandidateSubmitRequest,
]);
export type Request = z.infer<typeof Request>;
export type Method = Request['method'];

export const ErrorCode = z.enum(['bad_request', 'unknown_method', 'not_found', 'conflict', 'unavailable', 'timeout', 'internal']);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** What run.status returns, and each row of runs.list. */
export const RunState = z.enum(['created', 'running', 'paused', 'stopping', 'stopped', 'finished', 'failed']);
export const RunSummary = z.object({
  run: Id,
  name: z.string().max(256),
  dir: z.string().max(4096),
  state: RunState,
  cycle: Cycle,
  cycles: Count,
  lastSeq: Count,
  daemonAlive: z.boolean(),
  createdAt: z.number().min(0),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** A problem the static check found in submitted code; `line` is 1-based in the submitted text (null: none). */
export const CodeProblem = z.object({ line: z.int().min(0).nullable(), message: Text });
export type CodeProblem = z.infer<typeof CodeProblem>;
/**
 * What candidate.submit returns: the stored candidate, or the refusal with the static check's problems (a refusal
 * is a result, not an error response, so the problems reach the editor through any relay).
 */
export const CandidateSubmitResult = z.discriminatedUnion('accepted', [
  z.object({ accepted: z.literal(true), candidate: Id, cycle: Cycle }),
  z.object({ accepted: z.literal(false), outcome: Outcome, problems: z.array(CodeProblem).min(1).max(1000) }),
]);
export type CandidateSubmitResult = z.infer<typeof CandidateSubmitResult>;

export const OkResponse = z.object({ type: z.literal('response'), id: RequestId, ok: z.literal(true), result: z.unknown() });
export const ErrorResponse = z.object({
  type: z.literal('response'),
  id: RequestId,
  ok: z.literal(false),
  error: z.object({ code: ErrorCode, message: Text }),
});
export const Response = z.discriminatedUnion('ok', [OkResponse, ErrorResponse]);
export type Response = z.infer<typeof Response>;

// ---- log -------------------------------------------------------------------------------------------------------

export const Log = z.object({
  type: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: Text,
  ts: z.number().min(0),
  source: z.string().max(64).optional(),
});
export type Log = z.infer<typeof Log>;

// ---- the two directions ----------------------------------------------------------------------------------------

/** Everything the backend may send. */
export const ServerMessage = z.discriminatedUnion('type', [Hello, Event, Stream, Response, Log]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Everything the extension may send. */
export const ClientMessage = z.discriminatedUnion('type', [Hello, Request]);
export type ClientMessage = z.infer<typeof ClientMessage>;
