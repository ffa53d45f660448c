/**
 * Start Run…, Attach to Run…, Run Next Cycles…, Pause/Resume/Stop Run, Export Corpus…: the run lifecycle.
 * Start and attach create a RunSession (mirror included) and put it in the registry, which the tree, status bar and
 * tabs follow. Requests go to the run's daemon through the RunClient; a refused or failed request is shown with the
 * backend's reason. Nothing here throws into VS Code: every command reports its own failure.
 */
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { backendRunOptions, listRuns, startRun, stopRun } from '../session/backendCommands';
import type { HostConnection } from '../session/hostConnection';
import { RunSession } from '../session/runSession';
import { COMMANDS, CONTEXT } from './commandIds';
import { connectCommand } from './connectionCommands';
import { watchNotifications } from './notifications';
import { reportError, requireTrust, settings, type UiContext } from './uiContext';

/** A tree node or command argument that names a run. */
interface RunArgument {
  host?: string;
  run?: string;
  /** A run node of the tree. */
  runRef?: { host: string; run: string };
}

export function registerRunCommands(ui: UiContext): void {
  ui.extension.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.startRun, (preset?: string) => startRunCommand(ui, typeof preset === 'string' ? preset : undefined)),
    vscode.commands.registerCommand(COMMANDS.attachRun, () => attachRunCommand(ui)),
    vscode.commands.registerCommand(COMMANDS.runNextCycles, (arg?: RunArgument) => runNextCycles(ui, arg)),
    vscode.commands.registerCommand(COMMANDS.pauseRun, (arg?: RunArgument) => simpleRequest(ui, arg, 'run.pause', 'paused')),
    vscode.commands.registerCommand(COMMANDS.resumeRun, (arg?: RunArgument) => simpleRequest(ui, arg, 'run.resume', 'resumed')),
    vscode.commands.registerCommand(COMMANDS.stopRun, (arg?: RunArgument) => stopRunCommand(ui, arg)),
    vscode.commands.registerCommand(COMMANDS.exportCorpus, (arg?: RunArgument) => exportCorpus(ui, arg)),
    vscode.commands.registerCommand(COMMANDS.openGitMirror, (arg?: RunArgument) => openGitMirror(ui, arg)),
  );
  let shown: { hasRun: boolean; phase: string } | undefined;
  const updateContext = (): void => {
    // Set only on a change: the registry changes with every streamed token.
    const next = { hasRun: ui.registry.sessions().length > 0, phase: ui.registry.focused()?.view.phase ?? 'none' };
    if (shown?.hasRun !== next.hasRun) void vscode.commands.executeCommand('setContext', CONTEXT.hasRun, next.hasRun);
    if (shown?.phase !== next.phase) void vscode.commands.executeCommand('setContext', CONTEXT.runPhase, next.phase);
    shown = next;
  };
  ui.extension.subscriptions.push({ dispose: ui.registry.onDidChange(updateContext) });
  updateContext();
}

/** The connected host to act on: the only one, a picked one, or a new connection. */
async function chooseHost(ui: UiContext): Promise<HostConnection | undefined> {
  const names = ui.registry.hostNames();
  if (names.length === 1) return ui.registry.host(names[0] as string);
  if (names.length > 1) {
    const name = await vscode.window.showQuickPick(names, { title: 'ArchLoop: on which host?' });
    return name ? ui.registry.host(name) : undefined;
  }
  return connectCommand(ui);
}

function resolveSession(ui: UiContext, arg?: RunArgument): RunSession | undefined {
  const named = arg?.runRef ?? (arg?.host && arg.run ? { host: arg.host, run: arg.run } : undefined);
  const session = named ? ui.registry.session(named.host, named.run) : ui.registry.focused();
  if (!session) void vscode.window.showWarningMessage('ArchLoop: no run is attached. Start or attach one first.');
  return session;
}

async function startRunCommand(ui: UiContext, presetArgument?: string): Promise<void> {
  if (!requireTrust()) return;
  const host = await chooseHost(ui);
  if (!host) return;
  const preset =
    presetArgument ??
    (
      await vscode.window.showQuickPick(
        [
          { label: 'demo', description: 'small local model, 3 short cycles: minutes on a CPU' },
          { label: 'gpu-small', description: 'a small real run for one GPU' },
          { label: 'paper', description: "the paper's full settings (22 cycles)" },
        ],
        { title: `ArchLoop: Start Run on ${host.name}`, placeHolder: settings().get<string>('run.defaultPreset') ?? 'demo' },
      )
    )?.label;
  if (!preset) return;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `ArchLoop: starting a ${preset} run on ${host.name}`, cancellable: true }, async (progress, token) => {
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    try {
      // What the preset needs installed (the gpu extra for 4-bit/8-bit) goes in before the run starts.
      await host.prepare(preset, {
        signal: abort.signal,
        onProgress: (step) => {
          if (!step.line) progress.report({ message: step.message });
          ui.log.info(`deploy ${step.step}: ${step.message}`);
        },
      });
      const started = await startRun(host.backend, { preset, signal: abort.signal });
      ui.log.info(`started run in ${started.runDir} (daemon pid ${started.pid ?? '?'})`);
      const runs = await listRuns(host.backend, abort.signal).catch(() => []);
      const run = runs.find((summary) => summary.dir === started.runDir)?.run ?? basename(started.runDir);
      await attach(ui, host, run, started.runDir, 0); // a new run: everything it does from here on is news
    } catch (error) {
      reportError(ui, `cannot start a run on ${host.name}`, error);
    }
  });
}

async function attachRunCommand(ui: UiContext): Promise<void> {
  if (!requireTrust()) return;
  const host = await chooseHost(ui);
  if (!host) return;
  try {
    const runs = await listRuns(host.backend);
    if (runs.length === 0) {
      void vscode.window.showInformationMessage(`ArchLoop: no runs under ${host.backend.runRoot} on ${host.name}. Start one first.`);
      return;
    }
    const picked = await vscode.window.showQuickPick(
      runs.map((summary) => ({
        label: summary.name,
        description: `${summary.state} · cycle ${summary.cycle}/${summary.cycles}${summary.daemonAlive ? '' : ' · daemon not running'}`,
        detail: summary.dir,
        summary,
      })),
      { title: `ArchLoop: attach to a run on ${host.name}` },
    );
    if (picked) await attach(ui, host, picked.summary.run, picked.summary.dir, picked.summary.lastSeq);
  } catch (error) {
    reportError(ui, `cannot list the runs on ${host.name}`, error);
  }
}

/**
 * Attaches a RunSession for `run` (or focuses the existing one). Events after seq `liveAfter` (what the run had
 * committed when the user chose it) notify; the history replayed before them does not.
 */
export async function attach(ui: UiContext, host: HostConnection, run: string, runDir: string, liveAfter: number): Promise<RunSession> {
  const existing = ui.registry.session(host.name, run);
  if (existing) {
    ui.registry.setFocus(host.name, run);
    return existing;
  }
  const corpusPath = settings().get<string>('corpusPath') || join(ui.extension.globalStorageUri.fsPath, 'corpus');
  const session = new RunSession({
    host: host.name,
    run,
    runDir,
    backend: host.backend,
    corpusPath: join(corpusPath, host.name.replace(/[^A-Za-z0-9_.-]/g, '_')),
    log: { info: (m) => ui.log.info(m), warn: (m) => ui.log.warn(m), error: (m) => ui.log.error(m) },
  });
  watchNotifications(ui, session, liveAfter);
  await session.connect();
  ui.registry.addSession(session);
  ui.log.info(`attached to ${run} on ${host.name}`);
  return session;
}

async function runNextCycles(ui: UiContext, arg?: RunArgument): Promise<void> {
  const session = resolveSession(ui, arg);
  if (!session) return;
  const text = await vscode.window.showInputBox({
    title: `ArchLoop: run more cycles of ${session.view.name ?? session.run}`,
    value: '1',
    validateInput: (value) => (/^[1-9]\d{0,3}$/.test(value.trim()) ? undefined : 'a whole number from 1 to 9999'),
  });
  if (!text) return;
  try {
    await session.client.request('cycle.run', { count: Number(text.trim()) });
    void vscode.window.showInformationMessage(`ArchLoop: ${session.run} will run ${text.trim()} more cycle(s).`);
  } catch (error) {
    reportError(ui, 'cannot run more cycles', error);
  }
}

async function simpleRequest(ui: UiContext, arg: RunArgument | undefined, method: 'run.pause' | 'run.resume', done: string): Promise<void> {
  const session = resolveSession(ui, arg);
  if (!session) return;
  const applies = method === 'run.pause' ? session.view.phase === 'running' : session.view.phase === 'paused';
  if (!applies) {
    void vscode.window.showInformationMessage(`ArchLoop: run ${session.view.name ?? session.run} is ${session.view.phase}: it cannot be ${done}.`);
    return;
  }
  try {
    // The tree and the status bar show the new state when its event (run.paused / run.resumed) arrives.
    await session.client.request(method, {});
    vscode.window.setStatusBarMessage(`ArchLoop: ${session.run} ${done}`, 4000);
  } catch (error) {
    reportError(ui, `${method} failed`, error);
  }
}

async function stopRunCommand(ui: UiContext, arg?: RunArgument): Promise<void> {
  const session = resolveSession(ui, arg);
  if (!session) return;
  const host = ui.registry.host(session.host);
  if (!host) return;
  const phase = session.view.phase;
  if (phase !== 'running' && phase !== 'paused') {
    const why = phase === 'stopping' ? 'is already stopping after its current step' : `has ${phase === 'failed' ? 'failed' : phase}: there is nothing to stop`;
    void vscode.window.showInformationMessage(`ArchLoop: run ${session.view.name ?? session.run} ${why}.`);
    return;
  }
  const answer = await vscode.window.showWarningMessage(`Stop run ${session.view.name ?? session.run} after its current step?`, { modal: true }, 'Stop Run');
  if (answer !== 'Stop Run') return;
  try {
    // The request is acknowledged once stored; `archloop stop` also waits for the daemon, as a fallback.
    await session.client.request('run.stop', {}).catch(() => stopRun(host.backend, session.runDir));
  } catch (error) {
    reportError(ui, 'cannot stop the run', error);
  }
}

async function exportCorpus(ui: UiContext, arg?: RunArgument): Promise<void> {
  const session = resolveSession(ui, arg);
  if (!session) return;
  const host = ui.registry.host(session.host);
  if (!host) return;
  const out = await exportDestination(host, session);
  if (!out) return;
  try {
    const transport = await host.backend.transport();
    const result = await transport.run([host.backend.python, '-m', 'archloop', 'export', '--run-dir', session.runDir, '--out', out], backendRunOptions(host.backend));
    ui.log.info(`archloop export (exit ${result.code}):\n${result.stdout}${result.stderr}`);
    if (result.code !== 0) throw new Error(`archloop export exited ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
    // Short, so the notification shows it whole; the full path is one click away.
    const counted = /exported (\d+) nets/.exec(result.stdout)?.[1];
    const actions = host.kind === 'local' ? ['Reveal', 'Copy Path'] : ['Copy Path'];
    const picked = await vscode.window.showInformationMessage(`ArchLoop: exported ${counted ? `${counted} nets of ` : ''}${session.view.name ?? session.run} to ${basename(out)}.`, ...actions);
    if (picked === 'Reveal') await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(out));
    else if (picked === 'Copy Path') await vscode.env.clipboard.writeText(host.kind === 'local' ? out : `${host.name}:${out}`);
  } catch (error) {
    reportError(ui, 'export failed', error);
  }
}

/** Where to export: a folder picked in a dialog on this machine, or typed for a remote host (its disk is not browsable here). */
async function exportDestination(host: HostConnection, session: RunSession): Promise<string | undefined> {
  const suggested = `${session.runDir.replace(/\/+$/, '')}/export`;
  if (host.kind === 'local') {
    const picked = await vscode.window.showOpenDialog({
      title: `ArchLoop: export the corpus of ${session.view.name ?? session.run} into…`,
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Export Here',
      defaultUri: vscode.Uri.file(session.runDir),
    });
    return picked?.[0]?.fsPath;
  }
  const typed = await vscode.window.showInputBox({
    title: `ArchLoop: export the corpus of ${session.view.name ?? session.run}`,
    prompt: `Folder on ${host.name} to write the nets and their statistics into (created if missing)`,
    value: suggested,
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim().startsWith('/') || value.trim().startsWith('~') ? undefined : 'Give an absolute path on the host (starting with / or ~).'),
  });
  return typed?.trim() || undefined;
}

/** Opens the run's local git mirror (one commit per cycle, the corpus as files) in a new window. */
async function openGitMirror(ui: UiContext, arg?: RunArgument): Promise<void> {
  const session = resolveSession(ui, arg);
  if (!session) return;
  const path = session.mirrorPath;
  if (!path) {
    void vscode.window.showWarningMessage(
      `ArchLoop: run ${session.view.name ?? session.run} has no git mirror (it could not be opened; the ArchLoop output says why, and the setting archloop.corpusPath says where mirrors go).`,
    );
    return;
  }
  const choice = await vscode.window.showInformationMessage(`ArchLoop: the git mirror of ${session.view.name ?? session.run}.`, 'Open in New Window', 'Reveal', 'Copy Path');
  if (choice === 'Open in New Window') await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(path), { forceNewWindow: true });
  else if (choice === 'Reveal') await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(path));
  else if (choice === 'Copy Path') await vscode.env.clipboard.writeText(path);
}
