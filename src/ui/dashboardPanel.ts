/**
 * The dashboard's WebviewPanel: creates or revives the panel with a strict CSP, and connects it to a
 * DashboardController. Kept thin on purpose: the message logic lives in dashboardController.ts (tested under Node),
 * the page in dashboardHtml.ts (tested in Chromium).
 */
import * as vscode from 'vscode';
import { DashboardController, type ComparisonSource, type DashboardActions, type DashboardLog, type DashboardSource } from './dashboardController';
import { dashboardHtml, makeNonce } from './dashboardHtml';

export const DASHBOARD_VIEW_TYPE = 'archloop.dashboard';

export interface DashboardDependencies {
  readonly source: DashboardSource;
  readonly actions: DashboardActions;
  readonly log: DashboardLog;
  readonly comparison?: ComparisonSource;
}

export class DashboardPanel implements vscode.Disposable {
  private static current: DashboardPanel | undefined;
  private readonly controller: DashboardController;
  private readonly subscriptions: vscode.Disposable[] = [];

  /** Shows the dashboard, reusing the open panel if there is one. */
  static show(extensionUri: vscode.Uri, dependencies: DashboardDependencies): DashboardPanel {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal();
      return DashboardPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'ArchLoop Dashboard', vscode.ViewColumn.Active, webviewOptions(extensionUri));
    return new DashboardPanel(panel, extensionUri, dependencies);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    dependencies: DashboardDependencies,
  ) {
    DashboardPanel.current = this;
    const webview = panel.webview;
    webview.options = webviewOptions(extensionUri);
    webview.html = dashboardHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'main.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dashboard.css')).toString(),
    });
    this.controller = new DashboardController(
      (message) => void webview.postMessage(message),
      dependencies.source,
      dependencies.actions,
      dependencies.log,
      dependencies.comparison,
    );
    this.subscriptions.push(
      webview.onDidReceiveMessage((message: unknown) => void this.controller.receive(message)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  dispose(): void {
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    this.controller.dispose();
    for (const subscription of this.subscriptions.splice(0)) subscription.dispose();
    this.panel.dispose();
  }

  /**
   * Brings the dashboard back after a window reload. The webview restores its own view state (getState); the
   * controller sends a fresh snapshot when it says `ready`. Needs `onWebviewPanel:archloop.dashboard` activation.
   */
  static registerSerializer(extensionUri: vscode.Uri, dependencies: () => DashboardDependencies): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
        DashboardPanel.current?.dispose();
        new DashboardPanel(panel, extensionUri, dependencies());
      },
    });
  }
}

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    // Only the bundle and our media; hidden panels drop their DOM and rebuild from getState + a fresh snapshot.
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
    retainContextWhenHidden: false,
  };
}
