import * as vscode from 'vscode';
import { registerLogCommands } from './ui/logCommands';

/** Wires the parts together; each later part registers itself here, so this reads as a table of contents. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('ArchLoop', { log: true });
  context.subscriptions.push(log);
  registerLogCommands(context, log);
  log.info('ArchLoop activated');
}

export function deactivate(): void {}
