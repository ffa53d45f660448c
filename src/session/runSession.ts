/**
 * One attached run as the UI sees it: a RunClient, the RunView folded from its events, the candidates' code as it
 * streams, the full event log (for the dashboard's snapshot) and, optionally, the run's local git mirror.
 * Plain Node (no `vscode`), so it is usable from tests and scripts.
 *
 * Failure behaviour: a mirror that cannot open or write is reported through `onProblem` and the session goes on
 * without it; connect() rejects when the first attach fails (wrong host, version mismatch), later drops re-attach
 * inside RunClient. Listeners that throw are caught and reported, never thrown into the RunClient.
 */
import { join } from 'node:path';
import { GitMirror } from '../corpus/gitMirror';
import type { Event, Stream } from '../protocol/messages';
import { attachOpener, type Backend } from './backendCommands';
import { CandidateCodeStore } from './candidateDocument';
import { RunClient, type RunClientLogger, type RunClientState } from './runClient';
import { applyEvent, applyStream, emptyRunView, type RunView } from './views/runView';

export interface RunSessionOptions {
  readonly host: string;
  readonly run: string;
  readonly runDir: string;
  readonly backend: Backend;
  readonly log: RunClientLogger;
  /** Folder that holds one git mirror per run; no mirror when undefined. */
  readonly corpusPath?: string;
  /** Replaces the default RunClient options (tests shorten timeouts). */
  readonly helloTimeoutMs?: number;
}

export interface RunSessionListener {
  /** The view changed (events or stream deltas folded in). */
  onView?(view: RunView): void;
  onEvent?(event: Event): void;
  onStream?(stream: Stream): void;
  onState?(state: RunClientState, detail: string | undefined): void;
}

export class RunSession {
  readonly client: RunClient;
  readonly code = new CandidateCodeStore();
  private _view: RunView;
  private readonly events: Event[] = [];
  private readonly listeners = new Set<RunSessionListener>();
  private mirror: GitMirror | undefined;

  constructor(private readonly options: RunSessionOptions) {
    this._view = emptyRunView(options.run);
    this.client = new RunClient({
      open: attachOpener(options.backend, options.runDir),
      log: options.log,
      software: 'archloop-vscode',
      ...(options.helloTimeoutMs ? { helloTimeoutMs: options.helloTimeoutMs } : {}),
    });
    this.client.onEvent((event) => this.receiveEvent(event));
    this.client.onStream((stream) => this.receiveStream(stream));
    this.client.onState((state, detail) => this.notify((listener) => listener.onState?.(state, detail)));
    this.client.onLog((entry) => {
      const line = `${entry.source ? `[${entry.source}] ` : ''}${entry.message}`;
      if (entry.level === 'error') options.log.error(line);
      else if (entry.level === 'warn') options.log.warn(line);
      else options.log.info(line);
    });
  }

  get host(): string {
    return this.options.host;
  }

  get run(): string {
    return this.options.run;
  }

  get runDir(): string {
    return this.options.runDir;
  }

  get view(): RunView {
    return this._view;
  }

  /** Every persistent event so far, in seq order (the dashboard's snapshot source). */
  eventLog(): readonly Event[] {
    return this.events;
  }

  subscribe(listener: RunSessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The folder of this run's local git mirror, when one is configured and opened (undefined otherwise). */
  get mirrorPath(): string | undefined {
    return this.mirror && this.options.corpusPath ? join(this.options.corpusPath, this.options.run) : undefined;
  }

  /** Opens the mirror (if configured) and attaches. Rejects if the first attach fails. */
  async connect(): Promise<void> {
    if (this.options.corpusPath) {
      try {
        this.mirror = await GitMirror.open(join(this.options.corpusPath, this.options.run), this.options.run, {
          onError: (error) => this.options.log.warn(`git mirror of ${this.options.run}: ${error.message}`),
        });
      } catch (error) {
        this.options.log.warn(`git mirror of ${this.options.run} is off: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await this.client.connect();
  }

  /** Detaches (the run goes on in its daemon) and commits what the mirror holds. */
  async close(): Promise<void> {
    await this.client.close();
    await this.mirror?.close().catch((error: unknown) => this.options.log.warn(`git mirror close: ${String(error)}`));
  }

  private receiveEvent(event: Event): void {
    this.events.push(event);
    this.code.applyEvent(event);
    this.mirror?.push(event);
    this._view = applyEvent(this._view, event);
    this.notify((listener) => {
      listener.onEvent?.(event);
      listener.onView?.(this._view);
    });
  }

  private receiveStream(stream: Stream): void {
    this.code.applyStream(stream);
    const next = applyStream(this._view, stream);
    const changed = next !== this._view;
    this._view = next;
    this.notify((listener) => {
      listener.onStream?.(stream);
      if (changed) listener.onView?.(this._view);
    });
  }

  private notify(call: (listener: RunSessionListener) => void): void {
    for (const listener of this.listeners) {
      try {
        call(listener);
      } catch (error) {
        this.options.log.error(`a run listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    }
  }
}
