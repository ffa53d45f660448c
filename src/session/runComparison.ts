/**
 * The runs the user chose to see side by side, on any connected hosts: one row per run (comparison.ts), read again
 * from the run's view when an event that changes it arrives. Plain Node; the dashboard reads it through
 * its ComparisonSource, the Compare Runs… command writes it. A session that is closed later keeps its last row.
 */
import { MAX_COMPARED_RUNS, changesComparison, compareKey, compareRun, type ComparedRun } from '../protocol/comparison';
import type { Event } from '../protocol/messages';
import type { RunView } from '../protocol/runFold';

/** What a comparison needs of a RunSession: its name, its folded view (updated before onEvent is called). */
export interface ComparableRun {
  readonly host: string;
  readonly run: string;
  readonly view: RunView;
  subscribe(listener: { onEvent?(event: Event): void }): () => void;
}

interface Entry {
  readonly source: ComparableRun;
  row: ComparedRun;
  readonly unsubscribe: () => void;
}

export class RunComparison {
  private entries: Entry[] = [];
  private readonly listeners = new Set<() => void>();
  /** Set by a new choice, taken by the next dashboard update, which then brings the Compare tab forward. */
  private reveal = false;

  /** Replaces the compared runs (in this order); refuses fewer than two or more than MAX_COMPARED_RUNS. */
  set(runs: readonly ComparableRun[]): void {
    if (runs.length < 2) throw new Error(`choose two or more runs to compare (${runs.length} chosen)`);
    if (runs.length > MAX_COMPARED_RUNS) throw new Error(`at most ${MAX_COMPARED_RUNS} runs side by side (${runs.length} chosen)`);
    const keys = new Set(runs.map((run) => compareKey(run.host, run.run)));
    if (keys.size !== runs.length) throw new Error('a run was chosen twice');
    this.clearEntries();
    this.entries = runs.map((source) => {
      const entry: Entry = {
        source,
        row: compareRun(source.host, source.view),
        unsubscribe: source.subscribe({
          onEvent: (event) => {
            if (!changesComparison(event)) return;
            entry.row = compareRun(source.host, source.view);
            this.changed();
          },
        }),
      };
      return entry;
    });
    this.reveal = true;
    this.changed();
  }

  runs(): ComparedRun[] {
    return this.entries.map((entry) => entry.row);
  }

  /** Whether (host, run) is among the compared runs. */
  has(host: string, run: string): boolean {
    return this.entries.some((entry) => entry.source.host === host && entry.source.run === run);
  }

  /** True once after each new choice: the dashboard then shows the Compare tab. */
  takeReveal(): boolean {
    const reveal = this.reveal;
    this.reveal = false;
    return reveal;
  }

  onDidChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispose(): void {
    this.clearEntries();
    this.listeners.clear();
  }

  private clearEntries(): void {
    for (const entry of this.entries.splice(0)) entry.unsubscribe();
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
