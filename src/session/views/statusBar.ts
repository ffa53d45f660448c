/**
 * The status-bar item's text and tooltip for the run in focus, e.g.
 * "ArchLoop: cycle 3/22 · 41/150 generated · best 52.1%". Pure; never throws.
 * Cycle numbers are shown as the backend numbers them (the paper's tables start at cycle 1).
 * "best" is the best first-epoch accuracy over the whole run so far, not just the current cycle.
 */
import { formatPercent } from './candidatePresentation';
import { bestAccuracy, countCycle, currentCycle, type RunView } from './runView';

export interface StatusBarText {
  readonly text: string;
  readonly tooltip: string;
}

export function formatStatusBar(run: RunView | undefined, connection?: 'connecting' | 'disconnected'): StatusBarText {
  if (!run) return { text: 'ArchLoop: no run', tooltip: 'No ArchLoop run attached. Start or attach one from the ArchLoop view.' };
  const best = bestAccuracy(run);
  const bestPart = best === null ? [] : [`best ${formatPercent(best)}`];
  const cycle = currentCycle(run);
  const planned = run.plannedCycles !== null ? `/${run.plannedCycles}` : '';
  const prefix = connection === 'disconnected' ? 'ArchLoop (disconnected)' : connection === 'connecting' ? 'ArchLoop (connecting)' : 'ArchLoop';
  const tooltip = `${run.name ?? run.run} (${run.run}): ${run.phase}${run.errors.length ? `, ${run.errors.length} error(s)` : ''}`;

  if (run.phase !== 'running' || !cycle) {
    const cyclesDone = run.cycleOrder.filter((n) => run.cycles[n]?.phase === 'finished').length;
    const state = !cycle && run.phase === 'running' ? 'starting' : `${run.phase} after ${cyclesDone}${planned} cycles`;
    return { text: [`${prefix}: ${state}`, ...bestPart].join(' · '), tooltip };
  }

  const counts = countCycle(cycle);
  const perCycle = cycle.planned ?? run.candidatesPerCycle;
  const parts = [`cycle ${cycle.cycle}${planned}`];
  if (cycle.phase === 'finetuning' && cycle.finetune) {
    parts.push(`fine-tuning ${cycle.finetune.step}/${cycle.finetune.total}`);
  } else {
    parts.push(`${counts.generated}${perCycle !== null ? `/${perCycle}` : ''} generated`);
  }
  return { text: [`${prefix}: ${parts.join(' · ')}`, ...bestPart].join(' · '), tooltip };
}
