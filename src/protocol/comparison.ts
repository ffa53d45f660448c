/**
 * Runs side by side: each compared run's identity, phase and finished cycles, read off its RunView (the one fold of
 * its events, runFold.ts), for the dashboard's Compare tab. Pure: the UI picks the runs (any host), the webview
 * draws them.
 */
import { z } from 'zod';
import { CycleStats, Id, runSetting, type Event } from './messages';
import { RunPhase, type RunView } from './runFold';

export const ComparedRun = z.object({
  /** `${host}/${run}`: unique across hosts, so the same run id on two hosts stays two series. */
  key: z.string().min(1).max(400),
  host: z.string().max(256),
  run: Id,
  name: z.string().max(256),
  model: z.string().max(512),
  preset: z.string().max(128).nullable(),
  /** The run's base random seed (two seeds of one preset are the usual pair to compare). */
  seed: z.int().nullable(),
  protocol: z.enum(['paper', 'fast']).nullable(),
  candidatesPerCycle: z.int().min(0).nullable(),
  plannedCycles: z.int().min(0).nullable(),
  phase: RunPhase,
  /** Why it ended, in words (run.finished's detail or reason, the fatal error), null while it runs. */
  endedBy: z.string().max(1000).nullable(),
  cycles: z.array(CycleStats).max(10_000),
});
export type ComparedRun = z.infer<typeof ComparedRun>;

/** At most this many runs side by side: beyond it the chart's lines cannot be told apart. */
export const MAX_COMPARED_RUNS = 8;

/** The per-cycle figures a comparison can plot, named once for the chart, the table and the tests. */
export const COMPARE_METRICS = [
  { id: 'validPct', label: 'Valid %', percent: true },
  { id: 'meanAcc', label: 'Mean accuracy', percent: true },
  { id: 'bestAcc', label: 'Best accuracy', percent: true },
  { id: 'atLeast40Pct', label: '≥ 40 % share', percent: true },
  { id: 'uniqueModels', label: 'Unique models', percent: false },
] as const satisfies readonly { id: keyof CycleStats; label: string; percent: boolean }[];
export type CompareMetric = (typeof COMPARE_METRICS)[number]['id'];
export const CompareMetricId = z.enum(COMPARE_METRICS.map((m) => m.id) as [CompareMetric, ...CompareMetric[]]);

export function compareKey(host: string, run: string): string {
  return `${host}/${run}`;
}

/** One run's comparison row, from its folded view; cycles in order, finished ones only. */
export function compareRun(host: string, view: RunView): ComparedRun {
  const seed = runSetting(view.config, 'run', 'seed');
  const fatal = [...view.errors].reverse().find((error) => error.fatal);
  const endedBy =
    view.phase === 'failed' ? (fatal?.message ?? 'failed') : view.finished ? (view.finishedDetail ?? view.finished) : null;
  return {
    key: compareKey(host, view.run),
    host,
    run: view.run,
    name: (view.name ?? view.run).slice(0, 256),
    model: (view.model ?? '').slice(0, 512),
    preset: view.preset?.slice(0, 128) ?? null,
    seed: Number.isSafeInteger(seed) ? (seed as number) : null,
    protocol: view.protocol,
    candidatesPerCycle: view.candidatesPerCycle,
    plannedCycles: view.plannedCycles,
    phase: view.phase,
    endedBy: endedBy?.slice(0, 1000) ?? null,
    cycles: view.cycleOrder.flatMap((cycle) => {
      const stats = view.cycles[cycle]?.stats;
      return stats ? [stats] : [];
    }),
  };
}

/** Whether an event can change a run's comparison row; the others (most of them) cost nothing. */
export function changesComparison(event: Event): boolean {
  switch (event.kind) {
    case 'run.created':
    case 'cycle.finished':
    case 'run.finished':
    case 'run.error':
    case 'run.target_changed':
    case 'run.paused':
    case 'run.resumed':
    case 'run.stop_requested':
      return true;
    default:
      return false;
  }
}

/**
 * Each run's name, told apart where two share it: by host where their hosts differ, then by seed, then by run id, so
 * a legend never shows two identical entries.
 */
export function seriesLabels(runs: readonly ComparedRun[]): string[] {
  const steps: [(run: ComparedRun) => string | null, (label: string, value: string) => string][] = [
    [(run) => run.host, (label, host) => `${label} @ ${host}`],
    [(run) => (run.seed === null ? null : String(run.seed)), (label, seed) => `${label} seed ${seed}`],
    [(run) => run.run, (label, id) => `${label} (${id})`],
  ];
  let labels = runs.map((run) => run.name);
  for (const [pick, add] of steps) {
    const before = labels;
    labels = before.map((label, i) => {
      const group = runs.filter((_, j) => before[j] === label);
      const value = pick(runs[i] as ComparedRun);
      return group.length > 1 && value !== null && new Set(group.map(pick)).size > 1 ? add(label, value) : label;
    });
  }
  return labels;
}

/** One run's totals over its finished cycles, for the summary table. */
export interface ComparedTotals {
  readonly cycles: number;
  readonly generated: number;
  /** Valid over generated, pooled over cycles (not the mean of the cycles' percentages). */
  readonly validPct: number | null;
  readonly bestAcc: number | null;
  /** The last finished cycle's mean accuracy: where the run has got to. */
  readonly lastMeanAcc: number | null;
  readonly uniqueModels: number;
}

export function totalsOf(run: ComparedRun): ComparedTotals {
  const generated = run.cycles.reduce((sum, c) => sum + c.generated, 0);
  const valid = run.cycles.reduce((sum, c) => sum + c.valid, 0);
  const best = run.cycles.map((c) => c.bestAcc).filter((v): v is number => v !== null);
  return {
    cycles: run.cycles.length,
    generated,
    validPct: generated ? (100 * valid) / generated : null,
    bestAcc: best.length ? Math.max(...best) : null,
    lastMeanAcc: run.cycles.at(-1)?.meanAcc ?? null,
    uniqueModels: run.cycles.reduce((sum, c) => sum + c.uniqueModels, 0),
  };
}
