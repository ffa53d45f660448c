import * as vscode from 'vscode';
import { SessionRegistry } from './session/sessionRegistry';
import { registerCandidateReview } from './ui/candidateReview';
import { registerCandidateSubmit } from './ui/candidateSubmit';
import { registerCandidateTabs } from './ui/candidateTabs';
import { registerCompareRuns } from './ui/compareRuns';
import { registerConnectionCommands } from './ui/connectionCommands';
import { registerDashboard } from './ui/dashboardWiring';
import { registerLayerGraph } from './ui/layerGraphPanel';
import { registerLogCommands } from './ui/logCommands';
import { registerRecheckCommands } from './ui/recheckCommands';
import { registerRunCommands } from './ui/runCommands';
import { registerRunsTree } from './ui/runsTree';
import { registerStatusBar } from './ui/statusBar';
import type { UiContext } from './ui/uiContext';

/** Wires the parts together; each part registers itself here, so this reads as a table of contents. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('ArchLoop', { log: true });
  const registry = new SessionRegistry();
  const ui: UiContext = { extension: context, log, registry };
  context.subscriptions.push(log, { dispose: () => void registry.closeAll() });
  registerLogCommands(context, log);
  registerConnectionCommands(ui);
  registerRunCommands(ui);
  registerRunsTree(ui);
  registerStatusBar(ui);
  const documents = registerCandidateTabs(ui);
  const review = registerCandidateReview(ui, documents);
  registerCandidateSubmit(ui, documents);
  registerRecheckCommands(ui, documents);
  registerDashboard(ui, documents, review, registerCompareRuns(ui));
  registerLayerGraph(ui, documents);
  log.info('ArchLoop activated');
}

export function deactivate(): void {}
