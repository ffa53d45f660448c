/**
 * Connect to Host…, Disconnect, Check Host: the connection manager. Local mode runs the backend as child processes;
 * an SSH host is connected with the host key checked against known_hosts before any credential is sent (an unknown
 * key is shown to the user with its fingerprint), passphrases asked in the UI and remembered in SecretStorage, and
 * the backend deployed with a cancellable progress notification.
 * Failures are shown with the transport's or deploy's own message and logged; nothing is left half-connected.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { hostChoices, LOCAL_HOST, passphraseSecretKey, rememberRecent } from '../session/hostChoices';
import { connectLocal, connectSsh, type HostConnection } from '../session/hostConnection';
import { listConfiguredHosts } from '../transport/sshConfig';
import type { HostKeyPrompt } from '../transport/hostKeyCheck';
import type { PassphraseRequest } from '../transport/identityFiles';
import { COMMANDS, CONTEXT } from './commandIds';
import { backendRunOptions } from '../session/backendCommands';
import { reportError, requireTrust, settings, type UiContext } from './uiContext';

const RECENT_HOSTS_KEY = 'archloop.recentHosts';

export function registerConnectionCommands(ui: UiContext): void {
  ui.extension.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.connect, (target?: string) => connectCommand(ui, target)),
    vscode.commands.registerCommand(COMMANDS.disconnect, (node?: { host?: string }) => disconnectCommand(ui, node?.host)),
    vscode.commands.registerCommand(COMMANDS.checkHost, (node?: { host?: string }) => checkHostCommand(ui, node?.host)),
  );
  const updateContext = (): void => void vscode.commands.executeCommand('setContext', CONTEXT.connected, ui.registry.hostNames().length > 0);
  ui.extension.subscriptions.push({ dispose: ui.registry.onDidChange(updateContext) });
  updateContext();
}

/** Picks a host (or takes `target`), connects, and returns the connection; undefined when cancelled or failed. */
export async function connectCommand(ui: UiContext, target?: string): Promise<HostConnection | undefined> {
  if (!requireTrust()) return undefined;
  const chosen = target ?? (await pickHost(ui));
  if (!chosen) return undefined;
  const existing = ui.registry.host(chosen);
  if (existing) return existing;
  if (chosen === LOCAL_HOST) {
    const connection = connectLocal({
      python: settings().get<string>('local.python') || 'python3',
      runRoot: settings().get<string>('local.runRoot') || '~/.archloop/runs',
    });
    ui.registry.addHost(connection);
    ui.log.info(`connected to Local (python ${connection.backend.python}, runs in ${connection.backend.runRoot})`);
    return connection;
  }
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `ArchLoop: connecting to ${chosen}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      try {
        const knownHosts = localPathSetting('ssh.knownHostsFile');
        const configPath = localPathSetting('ssh.configFile');
        const remotePython = settings().get<string>('remote.python') || undefined;
        const backendRoot = settings().get<string>('remote.backendRoot') || undefined;
        const connection = await connectSsh({
          target: chosen,
          signal: abort.signal,
          runRoot: settings().get<string>('remote.runRoot') || '~/.archloop/runs',
          ssh: {
            ...(configPath ? { configPath } : {}),
            ...(knownHosts ? { knownHostsFile: knownHosts, extraKnownHostsFiles: [knownHosts] } : {}),
            confirmHostKey: (prompt) => confirmHostKey(prompt),
            passphrase: (request) => askPassphrase(ui, chosen, request),
            password: async (request) =>
              vscode.window.showInputBox({ title: `Password for ${request.user}@${request.host}`, password: true, ignoreFocusOut: true }),
          },
          deploy: {
            sourceDir: join(ui.extension.extensionPath, 'remote-python'),
            ...(backendRoot ? { root: backendRoot } : {}),
            ...(remotePython ? { python: remotePython } : {}),
            ...(settings().get<string>('remote.basePython') ? { basePython: settings().get<string>('remote.basePython') as string } : {}),
            onProgress: (step) => {
              progress.report({ message: `${step.step}: ${step.message.slice(0, 120)}` });
              ui.log.trace(`deploy ${step.step}: ${step.message}`);
            },
          },
        });
        ui.registry.addHost(connection);
        await ui.extension.globalState.update(RECENT_HOSTS_KEY, rememberRecent(recentHosts(ui), chosen));
        const doctor = connection.deployed?.doctor;
        if (doctor && !doctor.ok) void vscode.window.showWarningMessage(`ArchLoop: ${chosen} is connected but not ready: ${doctor.problems.join('; ')}`);
        ui.log.info(`connected to ${chosen}; backend ${connection.deployed?.hash ?? '?'} (${connection.backend.python})`);
        return connection;
      } catch (error) {
        return reportError(ui, `cannot connect to ${chosen}`, error);
      }
    },
  );
}

/** A path setting for a file on this machine, with a leading `~` expanded; undefined when empty. */
function localPathSetting(name: string): string | undefined {
  const value = settings().get<string>(name)?.trim();
  if (!value) return undefined;
  return value === '~' || value.startsWith('~/') ? join(homedir(), value.slice(1)) : value;
}

function recentHosts(ui: UiContext): string[] {
  return ui.extension.globalState.get<string[]>(RECENT_HOSTS_KEY) ?? [];
}

async function pickHost(ui: UiContext): Promise<string | undefined> {
  let sshConfig: string[] = [];
  try {
    const configPath = localPathSetting('ssh.configFile');
    sshConfig = listConfiguredHosts(configPath ? { configPath } : {});
  } catch (error) {
    ui.log.warn(`cannot read the SSH config (${localPathSetting('ssh.configFile') ?? '~/.ssh/config'}): ${String(error)}`);
  }
  const choices = hostChoices(recentHosts(ui), settings().get<string[]>('hosts') ?? [], sshConfig);
  const items: (vscode.QuickPickItem & { target?: string })[] = [
    ...choices.map((choice) => ({
      label: choice.target === LOCAL_HOST ? '$(vm) Local' : `$(remote) ${choice.target}`,
      description: choice.source === 'local' ? 'this machine, embedded demo backend' : choice.source,
      target: choice.target,
    })),
    { label: '$(add) Enter user@host[:port]…', alwaysShow: true },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'ArchLoop: Connect to Host', placeHolder: 'Local, or an SSH host' });
  if (!picked) return undefined;
  if (picked.target) return picked.target;
  return vscode.window.showInputBox({
    title: 'ArchLoop: SSH host',
    prompt: 'user@host[:port] or an alias from ~/.ssh/config',
    validateInput: (value) => (/^\S+$/.test(value.trim()) ? undefined : 'one word: user@host[:port]'),
  });
}

async function confirmHostKey(prompt: HostKeyPrompt): Promise<boolean> {
  const changed = prompt.otherKeyTypes.length > 0;
  const detail = [
    `${prompt.host}:${prompt.port} presented a ${prompt.keyType} key`,
    `Fingerprint: ${prompt.fingerprint}`,
    changed ? `WARNING: this host is already known with other key types (${prompt.otherKeyTypes.join(', ')}).` : 'This host is not in your known_hosts files.',
    `If you trust it, the key is added to ${prompt.knownHostsFile}.`,
  ].join('\n');
  const trust = 'Trust and Connect';
  const answer = await vscode.window.showWarningMessage(`ArchLoop: unknown host key for ${prompt.host}`, { modal: true, detail }, trust);
  return answer === trust;
}

async function askPassphrase(ui: UiContext, host: string, request: PassphraseRequest): Promise<string | undefined> {
  const key = passphraseSecretKey(host, request.keyFile);
  // First try: a remembered passphrase. A second ask means the remembered one was wrong.
  if (request.attempt === 1) {
    const stored = await ui.extension.secrets.get(key);
    if (stored) return stored;
  }
  const passphrase = await vscode.window.showInputBox({
    title: `Passphrase for ${request.keyFile}`,
    prompt: request.attempt > 1 ? 'Wrong passphrase, try again' : `to connect to ${host}; remembered in VS Code's secret storage`,
    password: true,
    ignoreFocusOut: true,
  });
  if (passphrase) await ui.extension.secrets.store(key, passphrase);
  return passphrase;
}

async function pickConnectedHost(ui: UiContext, title: string): Promise<string | undefined> {
  const names = ui.registry.hostNames();
  if (names.length <= 1) return names[0];
  return vscode.window.showQuickPick(names, { title });
}

async function disconnectCommand(ui: UiContext, host?: string): Promise<void> {
  const name = host ?? (await pickConnectedHost(ui, 'ArchLoop: Disconnect from'));
  if (!name) return;
  await ui.registry.removeHost(name);
  ui.log.info(`disconnected from ${name} (runs go on in their daemons)`);
}

async function checkHostCommand(ui: UiContext, host?: string): Promise<void> {
  const name = host ?? (await pickConnectedHost(ui, 'ArchLoop: Check Host')) ?? (await connectCommand(ui))?.name;
  const connection = name ? ui.registry.host(name) : undefined;
  if (!connection) return;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `ArchLoop: checking ${name}`, cancellable: true }, async (_progress, token) => {
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    try {
      const transport = await connection.backend.transport(abort.signal);
      const result = await transport.run([connection.backend.python, '-m', 'archloop', 'doctor'], backendRunOptions(connection.backend, abort.signal));
      ui.log.info(`archloop doctor on ${name} (exit ${result.code}):\n${result.stdout}${result.stderr}`);
      ui.log.show(true);
      if (result.code === 0) void vscode.window.showInformationMessage(`ArchLoop: ${name} is ready (details in the log).`);
      else void vscode.window.showWarningMessage(`ArchLoop: ${name} is not ready (exit ${result.code}); details in the log.`);
    } catch (error) {
      reportError(ui, `cannot check ${name}`, error);
    }
  });
}
