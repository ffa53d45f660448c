/**
 * Reads a run's git mirror back with no connection to the GPU host: `openMirror(path)` returns the run, its cycles
 * and candidates (from the working tree, which the writer keeps at least as new as HEAD), the cycle tags and the
 * commit history. Failure: MirrorError 'not_a_mirror' (no run.json), 'corrupt' (a record that does not parse,
 * naming the file), 'io' (unreadable), 'git_failed' (history unreadable). Never returns a partial snapshot.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import type { z } from 'zod';
import { MirrorError } from './mirrorError';
import {
  CYCLE_FILE,
  CandidateRecord,
  CycleRecord,
  RUN_FILE,
  RunRecord,
  candidateCodePath,
  cycleDirName,
  emptyCycleRecord,
  parseCycleDirName,
} from './mirrorRecords';

export interface MirrorCycleRecords {
  record: CycleRecord;
  /** Ordered by the candidate's index in its cycle, then id. */
  candidates: CandidateRecord[];
}

export interface MirrorRecords {
  run: RunRecord;
  /** Ascending by cycle. */
  cycles: MirrorCycleRecords[];
}

export interface MirrorCommit {
  hash: string;
  date: string;
  subject: string;
}

export interface MirrorSnapshot extends MirrorRecords {
  root: string;
  /** e.g. ["cycle-1", "cycle-2"], in cycle order. */
  tags: string[];
  /** Newest first. */
  history: MirrorCommit[];
}

async function readJson<T>(path: string, schema: z.ZodType<T>): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new MirrorError('io', `cannot read ${path}: ${String(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MirrorError('corrupt', `${path} is not valid JSON: ${String(error)}`, { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MirrorError('corrupt', `${path} is not a valid record: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unknown'}`);
  }
  return parsed.data;
}

/** The records only (used by the writer to resume); see `openMirror` for the full snapshot. */
export async function readMirrorRecords(root: string): Promise<MirrorRecords> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    throw new MirrorError('not_a_mirror', `${root} cannot be listed: ${String(error)}`, { cause: error });
  }
  if (!names.includes(RUN_FILE)) throw new MirrorError('not_a_mirror', `${root} holds no ${RUN_FILE}: not an ArchLoop mirror`);
  const run = await readJson(join(root, RUN_FILE), RunRecord);
  const cycleNumbers = names
    .map((name) => parseCycleDirName(name))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
  const cycles: MirrorCycleRecords[] = [];
  for (const cycle of cycleNumbers) {
    const dir = join(root, cycleDirName(cycle));
    const files = await readdir(dir);
    const record = files.includes(CYCLE_FILE) ? await readJson(join(dir, CYCLE_FILE), CycleRecord) : emptyCycleRecord(cycle);
    const candidates: CandidateRecord[] = [];
    for (const file of files.filter((f) => f.endsWith('.json') && f !== CYCLE_FILE).sort()) {
      candidates.push(await readJson(join(dir, file), CandidateRecord));
    }
    candidates.sort((a, b) => (a.index ?? Number.MAX_SAFE_INTEGER) - (b.index ?? Number.MAX_SAFE_INTEGER) || a.candidate.localeCompare(b.candidate));
    cycles.push({ record, candidates });
  }
  return { run, cycles };
}

/** Opens a finished (or interrupted) run's mirror for browsing. */
export async function openMirror(root: string): Promise<MirrorSnapshot> {
  const records = await readMirrorRecords(root);
  const git = simpleGit({ baseDir: root });
  try {
    const tags = (await git.tags()).all
      .filter((tag) => /^cycle-\d+$/.test(tag))
      .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
    const log = await git.log();
    const history = log.all.map((entry) => ({ hash: entry.hash, date: entry.date, subject: entry.message }));
    return { ...records, root, tags, history };
  } catch (error) {
    throw new MirrorError('git_failed', `cannot read the git history of ${root}: ${String(error)}`, { cause: error });
  }
}

/** A candidate's code as mirrored; MirrorError 'io' when it was never generated or is unreadable. */
export async function readCandidateCode(root: string, cycle: number, candidate: string): Promise<string> {
  const path = join(root, candidateCodePath(cycle, candidate));
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MirrorError('io', `no code for ${candidate} in cycle ${cycle} (${path}): ${String(error)}`, { cause: error });
  }
}
