/**
 * GitMirror: keeps a run's local git repository in step with its event stream (plain Node, simple-git).
 *
 *   const mirror = await GitMirror.open(join(corpusPath, runId), runId);
 *   runClient.onEvent((event) => mirror.push(event));   // never throws, never blocks
 *   ...
 *   await mirror.close();                                // commits whatever is pending
 *
 * Writes are serialised on one queue and batched: a finished cycle or run flushes at once (its own commit and tag);
 * verdicts, annotations and mid-cycle candidates wait `batchDelayMs` so a burst of events becomes one commit.
 * Failure: `open` rejects with a MirrorError (bad path, git missing, a foreign repository in the way). A failed
 * background flush does not throw into `push`'s caller; it is passed to `onError` and also rejects the next
 * `flush()`/`close()`, so the error surfaces where someone awaits. The in-memory state stays authoritative, and the
 * next successful flush rewrites the files it owns.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { Event } from '../protocol/messages';
import { MirrorError } from './mirrorError';
import { emptyMirrorState, foldMirror, hasPendingChanges, mirrorStateFromRecords, takeBatch, type MirrorBatch, type MirrorState } from './mirrorFold';
import { readMirrorRecords } from './mirrorReader';
import { RUN_FILE } from './mirrorRecords';

export interface GitMirrorOptions {
  /** How long non-cycle changes wait to be batched into one commit. */
  batchDelayMs?: number;
  /** Called with each background flush failure. */
  onError?: (error: MirrorError) => void;
  /** Commit author recorded in the repository's own config (never the global one). */
  author?: { name: string; email: string };
}

export class GitMirror {
  private state: MirrorState;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failure: MirrorError | undefined;
  private closed = false;

  private constructor(
    readonly root: string,
    private readonly git: SimpleGit,
    initial: MirrorState,
    private readonly options: Required<Pick<GitMirrorOptions, 'batchDelayMs'>> & GitMirrorOptions,
  ) {
    this.state = initial;
  }

  /** Creates the repository if needed, or reopens an existing mirror of the same run and continues after its lastSeq. */
  static async open(root: string, run: string, options: GitMirrorOptions = {}): Promise<GitMirror> {
    try {
      await mkdir(root, { recursive: true });
    } catch (error) {
      throw new MirrorError('io', `cannot create mirror directory ${root}: ${String(error)}`, { cause: error });
    }
    const git = simpleGit({ baseDir: root });
    let initial = emptyMirrorState(run);
    try {
      const isRoot = existsSync(join(root, '.git'));
      if (!isRoot) {
        await git.init();
        const author = options.author ?? { name: 'ArchLoop', email: 'archloop@localhost' };
        // Appended to the repository's own config in one write rather than four `git config` processes (each costs
        // a fork on a busy machine). Signing off: a user's global commit signing would prompt or fail in the
        // background, and this history is machine-written.
        await appendFile(
          join(root, '.git', 'config'),
          `[user]\n\tname = ${gitConfigValue(author.name)}\n\temail = ${gitConfigValue(author.email)}\n[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n`,
        );
      }
    } catch (error) {
      throw new MirrorError('git_failed', `cannot initialise a git repository in ${root}: ${String(error)}`, { cause: error });
    }
    if (existsSync(join(root, RUN_FILE))) {
      const records = await readMirrorRecords(root);
      if (records.run.run !== run) {
        throw new MirrorError('wrong_run', `${root} mirrors run ${records.run.run}, not ${run}`);
      }
      initial = mirrorStateFromRecords(records.run, records.cycles);
    }
    return new GitMirror(root, git, initial, { batchDelayMs: 1000, ...options });
  }

  /** The last event seq folded in (a RunClient may attach with `--since` this). */
  get lastSeq(): number {
    return this.state.fold.lastSeq;
  }

  /** Folds an event in and schedules its write. Never throws; events after close() are ignored. */
  push(event: Event): void {
    if (this.closed) return;
    this.state = foldMirror(this.state, event);
    if (event.kind === 'cycle.finished' || event.kind === 'run.finished' || event.kind === 'run.created') {
      this.enqueueBatch(false);
    } else if (hasPendingChanges(this.state) && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.enqueueBatch(false);
      }, this.options.batchDelayMs);
    }
  }

  /** Writes and commits everything pending now; rejects with the first failure since the last flush. */
  async flush(): Promise<void> {
    this.enqueueBatch(false);
    await this.queue;
    this.throwFailure();
  }

  /** Flushes, commits an unfinished cycle as "in progress", and stops accepting events. */
  async close(): Promise<void> {
    if (this.closed) {
      await this.queue;
      return;
    }
    this.enqueueBatch(true);
    this.closed = true;
    await this.queue;
    this.throwFailure();
  }

  private throwFailure(): void {
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
  }

  private enqueueBatch(closing: boolean): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // Take the batch now, in event order; perform it after every earlier batch (git needs one writer at a time).
    const { state, batch } = takeBatch(this.state, closing);
    this.state = state;
    if (batch.writes.length === 0 && batch.commits.length === 0) return;
    this.queue = this.queue.then(() =>
      this.perform(batch).catch((error: unknown) => {
        const mirrorError = error instanceof MirrorError ? error : new MirrorError('git_failed', String(error), { cause: error });
        this.failure ??= mirrorError;
        this.options.onError?.(mirrorError);
      }),
    );
  }

  private async perform(batch: MirrorBatch): Promise<void> {
    for (const write of batch.writes) {
      const path = join(this.root, write.path);
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, write.content, 'utf8');
      } catch (error) {
        throw new MirrorError('io', `cannot write ${path}: ${String(error)}`, { cause: error });
      }
    }
    for (const commit of batch.commits) {
      try {
        await this.git.add(commit.paths === 'all' ? ['-A', '.'] : ['--', ...commit.paths]);
        const staged = await this.git.diff(['--cached', '--name-only']);
        if (staged.trim()) await this.git.commit([...commit.message]);
        else if (commit.allowEmpty) await this.git.commit([...commit.message], [], { '--allow-empty': null });
        if (commit.tag) await this.git.tag(['-f', commit.tag]);
      } catch (error) {
        throw new MirrorError('git_failed', `commit "${commit.message[0] ?? ''}" failed: ${String(error)}`, { cause: error });
      }
    }
  }
}

/** Quotes a value for git's config file format (double quotes, with backslash and quote escaped; no newlines). */
function gitConfigValue(value: string): string {
  return `"${value.replace(/[\r\n]/g, ' ').replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
