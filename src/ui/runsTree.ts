/**
 * The Runs view (ArchLoop activity-bar container): hosts → runs → cycles → candidates, built by the pure
 * session/views/treeModel.ts and mapped 1:1 to TreeItems here. Clicking a candidate opens its tab; verdicts are in
 * the context menu (package.json menus keyed on contextValue). A filter command narrows the candidates shown.
 */
import * as vscode from 'vscode';
import { buildTree, type TreeFilter, type TreeNode } from '../session/views/treeModel';
import { COMMANDS } from './commandIds';
import type { UiContext } from './uiContext';

export const RUNS_VIEW_ID = 'archloop.runs';

class RunsTreeProvider implements vscode.TreeDataProvider<TreeNode> {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changeEmitter.event;
  filter: TreeFilter = {};
  private pending: NodeJS.Timeout | undefined;

  constructor(private readonly ui: UiContext) {}

  /** Coalesces bursts of events (a streaming candidate changes the view many times a second) into one refresh. */
  refreshSoon(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.changeEmitter.fire();
    }, 250);
  }

  getChildren(element?: TreeNode): TreeNode[] {
    return element ? [...element.children] : buildTree(this.ui.registry.hostViews(), this.filter);
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const collapsible = { none: vscode.TreeItemCollapsibleState.None, collapsed: vscode.TreeItemCollapsibleState.Collapsed, expanded: vscode.TreeItemCollapsibleState.Expanded }[node.collapsible];
    const item = new vscode.TreeItem(node.label, collapsible);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = new vscode.MarkdownString(node.tooltip.split('\n').map(escapeMarkdown).join('  \n'));
    item.iconPath = new vscode.ThemeIcon(node.iconId);
    item.contextValue = node.contextValue;
    if (node.kind === 'candidate' && node.ref) {
      item.command = { command: COMMANDS.openCandidate, title: 'Open Candidate', arguments: [node] };
    }
    return item;
  }

  dispose(): void {
    if (this.pending) clearTimeout(this.pending);
    this.changeEmitter.dispose();
  }
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

const FILTERS: readonly { label: string; description: string; filter: TreeFilter }[] = [
  { label: 'All candidates', description: '', filter: {} },
  { label: 'Selected', description: 'went into the fine-tuning set', filter: { onlySelected: true } },
  { label: 'Invalid', description: 'failed validation', filter: { statuses: new Set(['invalid']) } },
  { label: 'Rejected', description: 'rejected by a reviewer', filter: { verdict: 'reject' } },
  { label: 'Accepted', description: 'accepted by a reviewer', filter: { verdict: 'accept' } },
  { label: 'Trained', description: 'finished their epoch', filter: { statuses: new Set(['trained']) } },
];

export function registerRunsTree(ui: UiContext): void {
  const provider = new RunsTreeProvider(ui);
  const view = vscode.window.createTreeView(RUNS_VIEW_ID, { treeDataProvider: provider, showCollapseAll: true });
  ui.extension.subscriptions.push(
    provider,
    view,
    { dispose: ui.registry.onDidChange(() => provider.refreshSoon()) },
    vscode.commands.registerCommand(COMMANDS.filterCandidates, async () => {
      const picked = await vscode.window.showQuickPick(FILTERS, { title: 'ArchLoop: show candidates' });
      if (!picked) return;
      provider.filter = picked.filter;
      view.description = picked.label === 'All candidates' ? undefined : picked.label;
      provider.refreshSoon();
    }),
  );
}
