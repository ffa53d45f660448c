/**
 * What the runs tree and the status bar know about one run: the run's one fold (protocol/runFold.ts), as is, plus the
 * counts they show. The tree keeps the previous state to diff against; the fold shares what did not change.
 */
import { verdictIsLate, type CycleView, type RunView } from '../../protocol/runFold';

export {
  applyEvent,
  applyStream,
  elapsedMs,
  emptyRunView,
  foldEvents,
  type Annotation,
  type CandidateView,
  type CycleView,
  type CyclePhase,
  type FinetuneProgress,
  type RunPhase,
  type RunView,
} from '../../protocol/runFold';

/** The names the tree gives candidates (every label but the dashboard's `selected`: the tree stars those). */
export type { TreeLabel as CandidateStatus } from '../../protocol/runFold';

/** Counts over one cycle, shared by the tree's cycle rows and the status bar. */
export interface CycleCounts {
  generated: number;
  valid: number;
  novel: number;
  trained: number;
  failed: number;
  selected: number;
  best: number | null;
}

/** Counts derived from the candidates themselves, so they are right mid-cycle (stats arrive only at the end). */
export function countCycle(cycle: CycleView): CycleCounts {
  const counts: CycleCounts = { generated: 0, valid: 0, novel: 0, trained: 0, failed: 0, selected: 0, best: null };
  for (const id of cycle.order) {
    const c = cycle.candidates[id];
    if (!c) continue;
    if (c.step !== 'generating') counts.generated += 1;
    if (c.valid === true) counts.valid += 1;
    if (c.novel === true) counts.novel += 1;
    if (c.status === 'trained') counts.trained += 1;
    if (c.status === 'failed') counts.failed += 1;
    if (c.selected) counts.selected += 1;
    if (c.accuracy !== null && (counts.best === null || c.accuracy > counts.best)) counts.best = c.accuracy;
  }
  return counts;
}

/** Best accuracy over every cycle of the run, or null before anything trained. */
export function bestAccuracy(view: RunView): number | null {
  let best: number | null = null;
  for (const cycle of view.cycleOrder) {
    const cycleView = view.cycles[cycle];
    if (!cycleView) continue;
    const cycleBest = cycleView.stats?.bestAcc ?? countCycle(cycleView).best;
    if (cycleBest !== null && (best === null || cycleBest > best)) best = cycleBest;
  }
  return best;
}

/** The highest-numbered cycle seen, or undefined before any. */
export function currentCycle(view: RunView): CycleView | undefined {
  const last = view.cycleOrder[view.cycleOrder.length - 1];
  return last === undefined ? undefined : view.cycles[last];
}

/** What the run is doing now, in words, e.g. "generating 3/6", "evaluating 2/5", "fine-tuning 40/100". */
export function stageText(view: RunView): string | null {
  const cycle = currentCycle(view);
  if (!cycle || cycle.phase === 'finished') return null;
  if (cycle.phase === 'finetuning') return cycle.finetune ? `fine-tuning ${cycle.finetune.step}/${cycle.finetune.total}` : 'fine-tuning';
  if (cycle.phase === 'selected') return 'selecting';
  const counts = countCycle(cycle);
  const planned = cycle.planned ?? view.candidatesPerCycle;
  // The loop evaluates once the cycle's candidates are all generated and checked.
  if (planned !== null && counts.generated >= planned) return `evaluating · ${counts.trained + counts.failed} trained`;
  return `generating ${counts.generated}${planned !== null ? `/${planned}` : ''}`;
}

/** The run's state in words: what the tree and the status bar lead with. */
export function phaseText(view: RunView): string {
  if (view.phase === 'stopping') return 'stopping after the current step';
  return view.phase;
}

/** A duration as "45s", "4m 05s" or "2h 03m". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * Which fine-tune a verdict given now will change: the cycle's own selection while it is not selected yet, else the
 * next fine-tune onward (the cycle's adapter is already trained on what was selected; export honours it at once).
 */
export function verdictEffect(view: RunView, cycle: number): string {
  return verdictIsLate(view.cycles[cycle]?.phase) ? 'the next fine-tune onward' : `cycle ${cycle}'s selection`;
}
