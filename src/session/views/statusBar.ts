/**
 * The status-bar item's text and tooltip for the run in focus, e.g.
 * "ArchLoop: cycle 3/22 · generating 41/150 · 12m 04s · best 52.1%", led by "paused" or "stopping" when it is.
 * Pure (the caller passes the time); never throws.
 * Cycle numbers are shown as the backend numbers them (the paper's tables start at cycle 1).
 * "best" is the best first-epoch accuracy over the whole run so far, not just the current cycle.
 * The elapsed time is the run's running time: paused time is left out (runFold.ts keeps the clock).
 */
import { formatPercent } from './candidatePresentation';
import { bestAccuracy, currentCycle, elapsedMs, formatDuration, phaseText, stageText, type RunView } from './runView';

export interface StatusBarText {
  readonly text: string;
  readonly tooltip: string;
}

export function formatStatusBar(run: RunView | undefined, connection?: 'connecting' | 'disconnected', now: number = Date.now()): StatusBarText {
  if (!run) return { text: 'ArchLoop: no run', tooltip: 'No ArchLoop run attached. Start or attach one from the ArchLoop view.' };
  const best = bestAccuracy(run);
  const bestPart = best === null ? [] : [`best ${formatPercent(best)}`];
  const cycle = currentCycle(run);
  const planned = run.plannedCycles !== null ? `/${run.plannedCycles}` : '';
  const prefix = connection === 'disconnected' ? 'ArchLoop (disconnected)' : connection === 'connecting' ? 'ArchLoop (connecting)' : 'ArchLoop';
  const elapsed = formatDuration(elapsedMs(run, now));
  const stage = stageText(run);
  const tooltip = [
    `${run.name ?? run.run} (${run.run}): ${phaseText(run)}${run.errors.length ? `, ${run.errors.length} error(s)` : ''}`,
    `${stage ? `${stage}, ` : ''}running time ${elapsed}${run.phase === 'paused' ? ' (paused: the clock stands still)' : ''}`,
  ].join('\n');

  const ended = run.phase === 'finished' || run.phase === 'stopped' || run.phase === 'failed';
  if (ended || !cycle) {
    const cyclesDone = run.cycleOrder.filter((n) => run.cycles[n]?.phase === 'finished').length;
    const state = !cycle && !ended ? (run.phase === 'running' ? 'starting' : phaseText(run)) : `${run.phase} after ${cyclesDone}${planned} cycles`;
    return { text: [`${prefix}: ${state}`, ...(ended ? [elapsed] : []), ...bestPart].join(' · '), tooltip };
  }

  const parts = [`cycle ${cycle.cycle}${planned}`];
  if (stage) parts.push(stage);
  parts.push(elapsed);
  const lead = run.phase === 'running' ? '' : `${run.phase === 'stopping' ? 'stopping' : run.phase} · `;
  return { text: [`${prefix}: ${lead}${parts.join(' · ')}`, ...bestPart].join(' · '), tooltip };
}
