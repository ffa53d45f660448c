import * as vscode from 'vscode';
import { COMMANDS } from './commandIds';

/**
 * Registers "ArchLoop: Show Backend Log", which reveals the ArchLoop log channel (backend `log` messages and the
 * extension's own diagnostics land there). Revealing cannot fail; disposal is tied to the extension context.
 */
export function registerLogCommands(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.showBackendLog, () => {
      // preserveFocus false: the user asked to look at the log, so move focus there.
      log.show(false);
    }),
  );
}
