/**
 * Shows a run's notifications (decided by session/notifications.ts from its folded events), each with an "Open
 * Dashboard" action, as the `archloop.notifications` setting allows. The highest seq notified is kept per run in
 * the extension's global state, so neither a re-attach nor another window's attach repeats one.
 */
import * as vscode from 'vscode';
import { notificationLevel, notificationsFor } from '../session/notifications';
import type { RunSession } from '../session/runSession';
import { COMMANDS } from './commandIds';
import { settings, type UiContext } from './uiContext';

const OPEN_DASHBOARD = 'Open Dashboard';

/** Notifies of `session`'s events after seq `liveAfter` (what it had committed when the user attached). */
export function watchNotifications(ui: UiContext, session: RunSession, liveAfter: number): void {
  const key = `archloop.notifiedSeq/${session.host}/${session.run}`;
  let seen = Math.max(liveAfter, ui.extension.globalState.get<number>(key) ?? 0);
  let before = session.view;
  const unsubscribe = session.subscribe({
    onView: (after) => {
      const shown = notificationsFor(before, after, notificationLevel(settings().get('notifications')), seen);
      before = after;
      if (after.lastSeq > seen) {
        seen = after.lastSeq;
        if (shown.length) void ui.extension.globalState.update(key, seen);
      }
      for (const note of shown) void show(ui, session, note.severity, `ArchLoop: ${note.message}`);
    },
  });
  ui.extension.subscriptions.push({ dispose: unsubscribe });
}

async function show(ui: UiContext, session: RunSession, severity: 'info' | 'warning' | 'error', message: string): Promise<void> {
  const open =
    severity === 'error'
      ? vscode.window.showErrorMessage(message, OPEN_DASHBOARD)
      : severity === 'warning'
        ? vscode.window.showWarningMessage(message, OPEN_DASHBOARD)
        : vscode.window.showInformationMessage(message, OPEN_DASHBOARD);
  if ((await open) !== OPEN_DASHBOARD) return;
  ui.registry.setFocus(session.host, session.run);
  await vscode.commands.executeCommand(COMMANDS.openDashboard);
}
