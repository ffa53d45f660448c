/**
 * The host side of the dashboard's messages, without `vscode`: answers `ready` with a snapshot, forwards new events
 * and streams, and turns the webview's actions into calls on a plain interface. The UI engineer connects the
 * source and actions to the RunClient; dashboardPanel.ts only connects this to a WebviewPanel.
 */
import {
  WebviewMessage,
  describeInvalid,
  toDashboardEvent,
  toDashboardStream,
  type ActionResultMessage,
  type HostMessage,
} from '../protocol/dashboard';
import type { ComparedRun } from '../protocol/comparison';
import { fromEvents, toSnapshot } from '../protocol/dashboardState';
import type { Event, Stream, Verdict } from '../protocol/messages';

export interface CandidateRef {
  readonly cycle: number;
  readonly candidate: string;
}

export interface DashboardListener {
  onEvents(events: readonly Event[]): void;
  onStream(stream: Stream): void;
}

/** Where the dashboard's data comes from (the RunClient's event log and live feed). */
export interface DashboardSource {
  /** Every persistent event of the run so far, in seq order. */
  snapshot(): Promise<readonly Event[]> | readonly Event[];
  /** Calls the listener with new events and streams until the returned function is called. */
  subscribe(listener: DashboardListener): () => void;
  /**
   * The code of candidates still being written, as one stream piece each (offset: where the piece starts), the one
   * to follow first: streams are not in the event log, so a dashboard opened mid-stream starts from these.
   */
  streams?(): readonly Stream[];
}

/** What the dashboard's buttons do. A rejected promise is shown to the user as a failed action. */
export interface DashboardActions {
  open(ref: CandidateRef): Promise<void>;
  diff(ref: CandidateRef, nearest: string): Promise<void>;
  verdict(ref: CandidateRef, verdict: Verdict | null): Promise<void>;
  annotate(ref: CandidateRef, text: string, tags: readonly string[]): Promise<void>;
  /** A candidate's code (and raw reply) and its nearest neighbour's, for the detail pane; a part may be missing. */
  code?(ref: CandidateRef, nearest: string | null): Promise<CandidateCode>;
}

export interface CandidateCode {
  readonly code: string | null;
  readonly raw: string | null;
  readonly nearestCode: string | null;
  /** Why a part is missing, in words for the user. */
  readonly message: string | null;
}

/** The runs the Compare tab shows (runComparison.ts), and how the user picks them. */
export interface ComparisonSource {
  runs(): readonly ComparedRun[];
  /** Calls `listener` after the runs or any of their cycles changed, until the returned function is called. */
  onDidChange(listener: () => void): () => void;
  /** Asks the user which runs to compare (a quick pick); resolves when they have chosen or cancelled. */
  choose(): Promise<void>;
  /** True once after the user chose runs: the webview then brings its Compare tab forward. */
  takeReveal(): boolean;
}

export interface DashboardLog {
  warn(message: string): void;
}

export class DashboardController {
  private unsubscribe: (() => void) | null = null;
  private pending: Event[] = [];
  private flushScheduled = false;
  /** Events that arrive while a snapshot is being fetched wait here, then follow it (the webview dedupes by seq). */
  private held: Event[] | null = null;
  private disposed = false;
  private unsubscribeComparison: (() => void) | null = null;

  constructor(
    private readonly post: (message: HostMessage) => void,
    private readonly source: DashboardSource,
    private readonly actions: DashboardActions,
    private readonly log: DashboardLog,
    private readonly comparison?: ComparisonSource,
  ) {}

  /**
   * Handles one message from the webview. Invalid messages are logged (with what was wrong) and dropped; a failing
   * action is reported back to the webview as an `actionResult` and never thrown.
   */
  async receive(raw: unknown): Promise<void> {
    const parsed = WebviewMessage.safeParse(raw);
    if (!parsed.success) {
      this.log.warn(`dashboard: invalid message from the webview dropped (${describeInvalid(parsed.error)})`);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'ready':
        await this.sendSnapshot();
        return;
      case 'webviewError':
        this.log.warn(`dashboard webview: ${message.message}`);
        return;
      case 'open':
        return this.run('open', message, () => this.actions.open(message));
      case 'diff':
        return this.run('diff', message, () => this.actions.diff(message, message.nearest));
      case 'verdict':
        return this.run('verdict', message, () => this.actions.verdict(message, message.verdict));
      case 'annotate':
        return this.run('annotate', message, () => this.actions.annotate(message, message.text, message.tags));
      case 'code':
        return this.sendCode(message, message.nearest);
      case 'compare':
        try {
          await this.comparison?.choose();
        } catch (error) {
          this.log.warn(`dashboard: choosing the runs to compare failed: ${String(error)}`);
        }
        return;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.unsubscribeComparison?.();
    this.unsubscribeComparison = null;
  }

  private async sendSnapshot(): Promise<void> {
    if (!this.unsubscribe) {
      this.unsubscribe = this.source.subscribe({
        onEvents: (events) => this.queue(events),
        onStream: (stream) => {
          if (!this.disposed && this.held === null) this.post({ type: 'stream', stream: toDashboardStream(stream) });
        },
      });
    }
    this.held = [];
    let events: readonly Event[];
    try {
      events = await this.source.snapshot();
    } catch (error) {
      this.log.warn(`dashboard: could not read the run's events: ${String(error)}`);
      events = [];
    }
    if (this.disposed) return;
    // Folded here, off the webview's thread: the webview validates rows, not the whole log.
    this.post({ type: 'snapshot', state: toSnapshot(fromEvents(events.map(toDashboardEvent))) });
    let streams: readonly Stream[] = [];
    try {
      streams = this.source.streams?.() ?? [];
    } catch (error) {
      this.log.warn(`dashboard: could not read the code being streamed: ${String(error)}`);
    }
    for (const stream of streams) this.post({ type: 'stream', stream: toDashboardStream(stream) });
    const held = this.held;
    this.held = null;
    if (held.length) this.queue(held);
    if (this.comparison) {
      this.unsubscribeComparison ??= this.comparison.onDidChange(() => this.sendComparison());
      this.sendComparison();
    }
  }

  private sendComparison(): void {
    if (this.disposed || !this.comparison) return;
    this.post({ type: 'comparison', runs: [...this.comparison.runs()], reveal: this.comparison.takeReveal() });
  }

  /** Coalesces events that arrive together into one message: a burst costs the webview one validation pass. */
  private queue(events: readonly Event[]): void {
    if (this.disposed || events.length === 0) return;
    if (this.held !== null) {
      this.held.push(...events);
      return;
    }
    this.pending.push(...events);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      const batch = this.pending;
      this.pending = [];
      if (!this.disposed && batch.length) this.post({ type: 'events', events: batch.map(toDashboardEvent) });
    });
  }

  private async sendCode(ref: CandidateRef, nearest: string | null): Promise<void> {
    const reply = { type: 'candidateCode' as const, cycle: ref.cycle, candidate: ref.candidate, nearest, code: null, raw: null, nearestCode: null };
    let answer: CandidateCode;
    try {
      answer = this.actions.code ? await this.actions.code(ref, nearest) : { code: null, raw: null, nearestCode: null, message: 'this host does not serve code to the dashboard' };
    } catch (error) {
      answer = { ...reply, message: error instanceof Error ? error.message : String(error) };
    }
    if (this.disposed) return;
    this.post({ ...reply, ...answer, message: answer.message?.slice(0, 4096) ?? null });
  }

  private async run(action: ActionResultMessage['action'], ref: CandidateRef, call: () => Promise<void>): Promise<void> {
    let result: ActionResultMessage;
    try {
      await call();
      result = { type: 'actionResult', action, candidate: ref.candidate, ok: true, message: null };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result = { type: 'actionResult', action, candidate: ref.candidate, ok: false, message: message.slice(0, 4096) };
    }
    if (!this.disposed) this.post(result);
  }
}
