/**
 * "ArchLoop: Show Layer Graph": a webview panel per candidate drawing the layer graph its validation recorded (the
 * leaf modules in call order with output shapes, from its `candidate.validated` event). Clicking a node reveals the
 * line that constructed the module in the candidate's tab. The page is dashboardHtml's, under the same CSP.
 */
import * as vscode from 'vscode';
import { documentLine, layerGraphOf, LayerGraphWebviewMessage } from '../protocol/layerGraph';
import type { CandidateAddress } from '../session/candidateDocument';
import { COMMANDS } from './commandIds';
import { candidateUri, resolveCandidate, type CandidateArgument, type CandidateDocuments } from './candidateTabs';
import { dashboardHtml, makeNonce } from './dashboardHtml';
import { reportError, type UiContext } from './uiContext';

const VIEW_TYPE = 'archloop.layerGraph';

export function registerLayerGraph(ui: UiContext, documents: CandidateDocuments): void {
  const panels = new Map<string, vscode.WebviewPanel>();
  const extensionUri = ui.extension.extensionUri;

  const reveal = async (address: CandidateAddress, line: number): Promise<void> => {
    const uri = candidateUri(address);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(document, 'python');
    const open = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.toString() === uri.toString());
    const editor = await vscode.window.showTextDocument(document, { preview: false, viewColumn: open?.viewColumn ?? vscode.ViewColumn.One });
    const code = ui.registry.session(address.host, address.run)?.code.code(address.run, address.cycle, address.candidate) ?? undefined;
    const target = Math.min(Math.max(documentLine(document.getText(), code, line), 0), document.lineCount - 1);
    const range = document.lineAt(target).range;
    editor.selection = new vscode.Selection(range.start, range.end);
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  };

  const show = (address: CandidateAddress): void => {
    const session = ui.registry.session(address.host, address.run);
    if (!session) {
      void vscode.window.showWarningMessage(`ArchLoop: run ${address.run} is not attached.`);
      return;
    }
    const graph = layerGraphOf(session.eventLog(), address);
    if (typeof graph === 'string') {
      void vscode.window.showInformationMessage(`ArchLoop: ${graph}`);
      return;
    }
    const key = `${address.host}\u0000${address.run}\u0000${address.candidate}`;
    const existing = panels.get(key);
    if (existing) {
      existing.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, `Layers: ${address.candidate}`, vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
      retainContextWhenHidden: false, // the page asks for the graph again (layers.ready) when it is rebuilt
    });
    panels.set(key, panel);
    const webview = panel.webview;
    webview.html = dashboardHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'layers.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'layers.css')).toString(),
      title: `Layers of ${address.candidate}`,
    });
    const received = webview.onDidReceiveMessage(async (raw: unknown) => {
      const message = LayerGraphWebviewMessage.safeParse(raw);
      if (!message.success) {
        ui.log.warn(`layer graph: dropped an invalid message from the webview: ${message.error.message}`);
        return;
      }
      if (message.data.type === 'layers.ready') {
        void webview.postMessage(graph);
      } else if (message.data.candidate === address.candidate) {
        try {
          await reveal(address, message.data.line);
        } catch (error) {
          reportError(ui, `cannot show line ${message.data.line} of ${address.candidate}`, error);
        }
      }
    });
    panel.onDidDispose(() => {
      received.dispose();
      panels.delete(key);
    });
  };

  ui.extension.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.showLayerGraph, async (arg?: CandidateArgument) => {
      const address = await resolveCandidate(ui, documents, arg);
      if (address) show(address);
    }),
    { dispose: () => [...panels.values()].forEach((panel) => panel.dispose()) },
  );
}
