/**
 * What to tell the user about a run, decided from its fold before and after one event: a cycle finished (with its
 * row of the cycle table), the run finished, a run error, and what needs the user (a fatal error: the run waits for
 * them to fix its cause and start it again). Pure and free of VS Code, so the same events decide the same
 * notifications whether the run is local or over SSH; src/ui/notifications.ts shows them.
 *
 * Only live events notify: an event at or below `liveAfter` (history replayed when attaching, or already notified
 * in an earlier attach) never does, so re-attaching repeats nothing.
 */
import { formatPercent } from './views/candidatePresentation';
import type { RunView } from './views/runView';

/** The `archloop.notifications` setting. */
export type NotificationLevel = 'all' | 'errors' | 'off';

export interface RunNotification {
  readonly severity: 'info' | 'warning' | 'error';
  readonly message: string;
}

export function notificationLevel(value: unknown): NotificationLevel {
  return value === 'errors' || value === 'off' ? value : 'all';
}

export function notificationsFor(before: RunView, after: RunView, level: NotificationLevel, liveAfter: number): RunNotification[] {
  if (level === 'off' || after === before || after.lastSeq <= liveAfter) return [];
  const name = after.name ?? after.run;
  const out: RunNotification[] = [];
  for (const error of after.errors.slice(before.errors.length)) {
    const where = error.stage ? ` in ${error.stage}` : '';
    out.push(
      error.fatal
        ? { severity: 'error', message: `Run ${name} stopped on an error${where}: ${error.message} — fix the cause, then start it again.` }
        : { severity: 'warning', message: `Run ${name}: error${where}: ${error.message}` },
    );
  }
  if (level === 'errors') return out;
  for (const cycle of after.cycleOrder) {
    const now = after.cycles[cycle];
    if (!now?.stats || now.phase !== 'finished' || before.cycles[cycle]?.phase === 'finished') continue;
    const s = now.stats;
    const of = after.plannedCycles !== null ? ` of ${after.plannedCycles}` : '';
    const row = [`valid ${formatPercent(s.validPct)}`, `best ${formatPercent(s.bestAcc)}`, `mean ${formatPercent(s.meanAcc)}`, `${now.selected.length} selected`];
    out.push({ severity: 'info', message: `Run ${name}: cycle ${cycle}${of} finished — ${row.join(', ')}.` });
  }
  if (after.finished !== null && before.finished === null) {
    const done = after.cycleOrder.filter((n) => after.cycles[n]?.phase === 'finished').length;
    out.push({
      severity: 'info',
      message:
        after.finished === 'completed'
          ? `Run ${name} finished: ${done} cycle${done === 1 ? '' : 's'}. Run Next Cycles continues it.`
          : `Run ${name} stopped after ${done} finished cycle${done === 1 ? '' : 's'}.`,
    });
  }
  return out;
}
