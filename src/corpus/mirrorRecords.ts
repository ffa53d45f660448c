/**
 * The on-disk records of a run's git mirror and where they live:
 *   run.json                      RunRecord (metadata, lastSeq, finished?)
 *   cycle-NN/stats.json           CycleRecord (stats once finished, selection, adapter)
 *   cycle-NN/<candidate>.py       the candidate's code
 *   cycle-NN/<candidate>.json     CandidateRecord (status, outcome, accuracy, novelty, nearest, verdict, annotations)
 * The zod schemas validate what is read back, so a hand-edited or truncated file is a classified error, not a crash.
 */
import { z } from 'zod';
import { CycleStats, Id, Outcome, Verdict } from '../protocol/messages';
import { CandidateLabel } from '../protocol/runFold';

export const RUN_FILE = 'run.json';
export const CYCLE_FILE = 'stats.json';

/** "cycle-03": two digits at least, so a plain `ls` lists the first 99 cycles in order. */
export function cycleDirName(cycle: number): string {
  return `cycle-${String(cycle).padStart(2, '0')}`;
}

export function parseCycleDirName(name: string): number | undefined {
  const match = /^cycle-(\d+)$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function candidateCodePath(cycle: number, candidate: string): string {
  return `${cycleDirName(cycle)}/${candidate}.py`;
}

export function candidateMetaPath(cycle: number, candidate: string): string {
  return `${cycleDirName(cycle)}/${candidate}.json`;
}

export function cycleMetaPath(cycle: number): string {
  return `${cycleDirName(cycle)}/${CYCLE_FILE}`;
}


export const AnnotationRecord = z.object({ text: z.string(), tags: z.array(z.string()), ts: z.number() });
export type AnnotationRecord = z.infer<typeof AnnotationRecord>;

export const CandidateRecord = z.object({
  candidate: Id,
  cycle: z.int().min(0),
  index: z.int().min(0).nullable(),
  /** The candidate's name as the views give it (protocol/runFold.ts labelOf). */
  status: CandidateLabel,
  outcome: Outcome.nullable(),
  message: z.string().nullable(),
  line: z.int().nullable(),
  params: z.int().nullable(),
  accuracy: z.number().nullable(),
  novelty: z.object({ maxJaccard: z.number(), novel: z.boolean(), signature: z.string() }).nullable(),
  nearest: z.string().nullable(),
  generation: z.object({ attempts: z.int(), tokens: z.int(), seconds: z.number() }).nullable(),
  training: z
    .object({
      trainSeconds: z.number().nullable(),
      evalSeconds: z.number().nullable(),
      peakMemoryMB: z.number().nullable(),
      imagesPerSecond: z.number().nullable(),
    })
    .nullable(),
  selected: z.boolean(),
  selectReason: z.enum(['threshold', 'fallback', 'accepted']).nullable(),
  verdict: Verdict.nullable(),
  annotations: z.array(AnnotationRecord),
});
export type CandidateRecord = z.infer<typeof CandidateRecord>;

export const CycleRecord = z.object({
  cycle: z.int().min(0),
  planned: z.int().min(0).nullable(),
  adapter: z.string().nullable(),
  selected: z.array(Id),
  finetuneAdapter: z.string().nullable(),
  stats: CycleStats.nullable(),
});
export type CycleRecord = z.infer<typeof CycleRecord>;

export const RunRecord = z.object({
  run: Id,
  name: z.string().nullable(),
  model: z.string().nullable(),
  preset: z.string().nullable(),
  protocol: z.string().nullable(),
  plannedCycles: z.int().nullable(),
  candidatesPerCycle: z.int().nullable(),
  config: z.record(z.string(), z.unknown()),
  /** The last event seq folded in: a reopened writer skips anything at or below it. */
  lastSeq: z.int().min(0),
  finished: z.enum(['completed', 'stopped', 'budget']).nullable(),
  errors: z.array(z.object({ message: z.string(), stage: z.string().nullable(), fatal: z.boolean() })),
});
export type RunRecord = z.infer<typeof RunRecord>;

export function emptyCycleRecord(cycle: number): CycleRecord {
  return { cycle, planned: null, adapter: null, selected: [], finetuneAdapter: null, stats: null };
}

/** Stable, diff-friendly JSON: two-space indent and a trailing newline, so git diffs show one field per line. */
export function toJsonFile(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
