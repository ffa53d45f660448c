import * as vscode from 'vscode';

/** Command ids contributed in package.json; kept here so the manifest and the code are checked against one list. */
export const SHOW_BACKEND_LOG_COMMAND = 'archloop.showBackendLog';

/**
 * Registers "ArchLoop: Show Backend Log", which reveals the ArchLoop log channel (backend `log` messages and the
 * extension's own diagnostics land there). Revealing cannot fail; disposal is tied to the extension context.
 */
export function registerLogCommands(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(SHOW_BACKEND_LOG_COMMAND, () => {
      // preserveFocus false: the user asked to look at the log, so move focus there.
      log.show(false);
    }),
  );
}
