/**
 * The status-bar item: connection state and the focused run's state and progress ("ArchLoop: paused · cycle 3/22 ·
 * generating 41/150 · 12m 04s · best 52.1%"), formatted by the pure session/views/statusBar.ts. Clicking it opens the dashboard.
 */
import * as vscode from 'vscode';
import { formatStatusBar } from '../session/views/statusBar';
import { COMMANDS } from './commandIds';
import type { UiContext } from './uiContext';

export function registerStatusBar(ui: UiContext): void {
  const item = vscode.window.createStatusBarItem('archloop.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'ArchLoop';
  const update = (): void => {
    const session = ui.registry.focused();
    if (!session) {
      const hosts = ui.registry.hostNames();
      item.text = hosts.length ? `$(vm) ArchLoop: ${hosts.join(', ')} · no run` : '$(debug-disconnect) ArchLoop: not connected';
      item.tooltip = hosts.length ? 'Connected; start or attach a run.' : 'Click to connect to a host.';
      item.command = hosts.length ? COMMANDS.startRun : COMMANDS.connect;
    } else {
      const state = session.client.state;
      const connection = state === 'connecting' || state === 'reconnecting' ? 'connecting' : state === 'connected' ? undefined : 'disconnected';
      const formatted = formatStatusBar(session.view, connection);
      item.text = `$(beaker) ${formatted.text}`;
      item.tooltip = `${formatted.tooltip}\nHost: ${session.host}\nClick to open the dashboard.`;
      item.command = COMMANDS.openDashboard;
    }
    item.show();
  };
  // The running time moves between events: tick once a second while the focused run's clock runs.
  const clock = setInterval(() => {
    const phase = ui.registry.focused()?.view.phase;
    if (phase === 'running' || phase === 'stopping') update();
  }, 1000);
  ui.extension.subscriptions.push(item, { dispose: ui.registry.onDidChange(update) }, { dispose: () => clearInterval(clock) });
  update();
}
