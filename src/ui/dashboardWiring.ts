/**
 * Open Dashboard: connects the dashboard engineer's DashboardPanel to the focused run through its documented host
 * interface (DashboardSource for data, DashboardActions for the buttons), and restores it after a reload.
 */
import * as vscode from 'vscode';
import type { Event, Stream } from '../protocol/messages';
import { COMMANDS } from './commandIds';
import type { CandidateDocuments } from './candidateTabs';
import type { CandidateReview } from './candidateReview';
import type { ComparisonSource, DashboardListener } from './dashboardController';
import { DashboardPanel, type DashboardDependencies } from './dashboardPanel';
import type { UiContext } from './uiContext';

function dependencies(ui: UiContext, documents: CandidateDocuments, review: CandidateReview, comparison: ComparisonSource): DashboardDependencies {
  // The run in focus when the dashboard opened; its actions address candidates of that run.
  const session = ui.registry.focused();
  const address = (ref: { cycle: number; candidate: string }) => {
    if (!session) throw new Error('no run is attached');
    return { host: session.host, run: session.run, ...ref };
  };
  return {
    source: {
      snapshot: (): readonly Event[] => session?.eventLog() ?? [],
      subscribe: (listener: DashboardListener) =>
        session
          ? session.subscribe({
              onEvent: (event: Event) => listener.onEvents([event]),
              onStream: (stream: Stream) => listener.onStream(stream),
            })
          : () => undefined,
      streams: () => (session ? session.code.streaming(session.run) : []),
    },
    actions: {
      open: (ref) => documents.open(address(ref)),
      diff: (ref, nearest) => review.diff(address(ref), nearest),
      verdict: (ref, verdict) => review.verdict(address(ref), verdict),
      annotate: (ref, text, tags) => review.annotate(address(ref), text, tags),
      code: async (ref, nearest) => {
        const at = address(ref);
        const code = session?.code.code(at.run, at.cycle, at.candidate) ?? null;
        const raw = session?.code.raw(at.run, at.cycle, at.candidate) ?? null;
        const read = nearest ? await documents.nearestCode(at.host, at.run, nearest) : null;
        const problems = [code === null ? `${ref.candidate}: no code received yet` : null, read && 'error' in read ? read.error : null].filter((p) => p !== null);
        return { code, raw, nearestCode: read && 'code' in read ? read.code : null, message: problems.length ? problems.join('; ') : null };
      },
    },
    log: { warn: (message) => ui.log.warn(`dashboard: ${message}`) },
    comparison,
  };
}

export function registerDashboard(ui: UiContext, documents: CandidateDocuments, review: CandidateReview, comparison: ComparisonSource): void {
  ui.extension.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.openDashboard, () => {
      if (!ui.registry.focused()) void vscode.window.showInformationMessage('ArchLoop: no run is attached; the dashboard fills once you start or attach one.');
      DashboardPanel.show(ui.extension.extensionUri, dependencies(ui, documents, review, comparison));
    }),
    DashboardPanel.registerSerializer(ui.extension.extensionUri, () => dependencies(ui, documents, review, comparison)),
  );
}
