/**
 * Compare Runs…: pick two or more runs on any connected hosts (attached ones, and runs the hosts list that are not
 * attached yet, which are attached to read their cycles) and show them side by side in the dashboard's Compare tab.
 * The choice lives in one RunComparison for the extension's lifetime; the dashboard reads it as its ComparisonSource.
 */
import * as vscode from 'vscode';
import { MAX_COMPARED_RUNS } from '../protocol/comparison';
import { listRuns } from '../session/backendCommands';
import { RunComparison, type ComparableRun } from '../session/runComparison';
import type { RunSummary } from '../protocol/messages';
import { COMMANDS } from './commandIds';
import type { ComparisonSource } from './dashboardController';
import { attach } from './runCommands';
import { reportError, requireTrust, type UiContext } from './uiContext';

interface RunItem extends vscode.QuickPickItem {
  readonly host: string;
  readonly run: string;
  /** Set for a run that is not attached yet. */
  readonly summary?: RunSummary;
}

export function registerCompareRuns(ui: UiContext): ComparisonSource {
  const comparison = new RunComparison();
  ui.extension.subscriptions.push(
    { dispose: () => comparison.dispose() },
    vscode.commands.registerCommand(COMMANDS.compareRuns, async () => {
      if (await chooseRuns(ui, comparison)) await vscode.commands.executeCommand(COMMANDS.openDashboard);
    }),
  );
  return {
    runs: () => comparison.runs(),
    onDidChange: (listener) => comparison.onDidChange(listener),
    choose: async () => {
      await chooseRuns(ui, comparison);
    },
    takeReveal: () => comparison.takeReveal(),
  };
}

/** Asks which runs to compare and sets them; true when a new choice was made. */
async function chooseRuns(ui: UiContext, comparison: RunComparison): Promise<boolean> {
  if (!requireTrust()) return false;
  const items = await runItems(ui, comparison);
  if (items.length < 2) {
    void vscode.window.showInformationMessage(
      `ArchLoop: comparing needs two or more runs; ${items.length === 0 ? 'none is' : 'only one is'} attached or listed on the connected hosts. Start or attach another run, or connect to another host.`,
    );
    return false;
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: `ArchLoop: compare runs side by side (two to ${MAX_COMPARED_RUNS})`,
    canPickMany: true,
    matchOnDescription: true,
  });
  if (!picked) return false;
  if (picked.length < 2 || picked.length > MAX_COMPARED_RUNS) {
    void vscode.window.showWarningMessage(`ArchLoop: choose from two to ${MAX_COMPARED_RUNS} runs to compare (${picked.length} chosen).`);
    return false;
  }
  const focused = ui.registry.focused();
  const runs: ComparableRun[] = [];
  try {
    for (const item of picked) {
      const session = ui.registry.session(item.host, item.run);
      if (session) {
        runs.push(session);
        continue;
      }
      const host = ui.registry.host(item.host);
      if (!host || !item.summary) throw new Error(`${item.host} is no longer connected`);
      // Attached without notifications for its history: only what happens after now is news.
      runs.push(await attach(ui, host, item.run, item.summary.dir, item.summary.lastSeq));
    }
  } catch (error) {
    reportError(ui, 'cannot attach a run to compare', error);
    return false;
  } finally {
    // Attaching focuses the new run; the palette and status bar stay on the run the user was looking at.
    if (focused) ui.registry.setFocus(focused.host, focused.run);
  }
  comparison.set(runs);
  return true;
}

async function runItems(ui: UiContext, comparison: RunComparison): Promise<RunItem[]> {
  const items: RunItem[] = [];
  for (const session of ui.registry.sessions()) {
    const view = session.view;
    items.push({
      label: view.name ?? session.run,
      description: `${session.host} · ${view.phase} · cycle ${view.cycleOrder.at(-1) ?? 0}/${view.plannedCycles ?? '?'}`,
      detail: session.run,
      picked: comparison.has(session.host, session.run) || session === ui.registry.focused(),
      host: session.host,
      run: session.run,
    });
  }
  const listed = await Promise.all(
    ui.registry.hostNames().map(async (name) => {
      const host = ui.registry.host(name);
      if (!host) return [];
      try {
        return (await listRuns(host.backend)).map((summary) => ({ name, summary }));
      } catch (error) {
        ui.log.warn(`compare: cannot list the runs on ${name}: ${error instanceof Error ? error.message : String(error)}`);
        return [];
      }
    }),
  );
  for (const { name, summary } of listed.flat()) {
    if (ui.registry.session(name, summary.run)) continue;
    items.push({
      label: summary.name,
      description: `${name} · ${summary.state} · cycle ${summary.cycle}/${summary.cycles} · not attached`,
      detail: summary.dir,
      host: name,
      run: summary.run,
      summary,
    });
  }
  return items;
}
