/**
 * What every UI part is handed at registration: the extension context, the log, and the session registry.
 * One object built in activate(), passed down, so there is no module-level state.
 */
import * as vscode from 'vscode';
import type { SessionRegistry } from '../session/sessionRegistry';

export interface UiContext {
  readonly extension: vscode.ExtensionContext;
  readonly log: vscode.LogOutputChannel;
  readonly registry: SessionRegistry;
}

/** The `archloop.*` settings, read fresh each time so a change applies to the next action. */
export function settings(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('archloop');
}

/** Shows an error to the user and logs it; returns undefined so callers can `return fail(...)`. */
export function reportError(ui: UiContext, what: string, error: unknown): undefined {
  const message = error instanceof Error ? error.message : String(error);
  ui.log.error(`${what}: ${message}`);
  void vscode.window.showErrorMessage(`ArchLoop: ${what}: ${message}`, 'Show Log').then((choice) => {
    if (choice) ui.log.show(true);
  });
  return undefined;
}

/** Remote execution is off in an untrusted workspace (capabilities.untrustedWorkspaces: limited). */
export function requireTrust(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage('ArchLoop does not start or attach to runs in an untrusted workspace. Trust the workspace first.', 'Manage Workspace Trust').then((choice) => {
    if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return false;
}
