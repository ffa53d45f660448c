/**
 * Candidates as read-only `archloop:` documents (Python) that fill as tokens stream. Follow modes (setting
 * `archloop.followMode`): `live` opens one tab per run that follows the candidate being generated and is named after
 * it, `perCandidate` opens a tab for each new candidate, `off` opens nothing by itself. Any candidate opens from the
 * tree, the dashboard or the palette (Open Candidate…). The nearest neighbour of a candidate is served under
 * `/nearest/` for the diff, and a candidate's code alone (no header) under `?code`.
 * A URI that names nothing known shows a one-line explanation instead of failing.
 */
import * as vscode from 'vscode';
import {
  CANDIDATE_SCHEME,
  candidatePath,
  candidateText,
  livePath,
  parseCandidatePath,
  parseLivePath,
  parseNearestPath,
  seedSourceArgv,
  type CandidateAddress,
} from '../session/candidateDocument';
import { backendRunOptions } from '../session/backendCommands';
import type { RunSession } from '../session/runSession';
import type { TreeNode } from '../session/views/treeModel';
import { COMMANDS } from './commandIds';
import { reportError, settings, type UiContext } from './uiContext';

export type FollowMode = 'live' | 'perCandidate' | 'off';

export function candidateUri(address: CandidateAddress): vscode.Uri {
  return vscode.Uri.from({ scheme: CANDIDATE_SCHEME, path: candidatePath(address) });
}

/** The query that serves a candidate's code without its comment header: a diff should compare code with code. */
const CODE_ONLY = 'code';

/** A candidate's code alone (no header lines), as the right side of the nearest-neighbour diff. */
export function codeOnlyUri(address: CandidateAddress): vscode.Uri {
  return candidateUri(address).with({ query: CODE_ONLY });
}

export function liveUri(host: string, run: string, candidate?: string): vscode.Uri {
  return vscode.Uri.from({ scheme: CANDIDATE_SCHEME, path: livePath(host, run, candidate) });
}

/** Serves candidate, live and nearest-neighbour documents, and tracks which candidate each run's live tab follows. */
export class CandidateDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changeEmitter.event;
  /** Per `host\0run`: the candidate the live tab shows. */
  private readonly following = new Map<string, { cycle: number; candidate: string }>();
  private readonly dirty = new Map<string, vscode.Uri>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly opened = new Set<string>();
  /** Per `host\0run`: the live tab's URI now (it is reopened under the name of each candidate it follows). */
  private readonly liveUris = new Map<string, vscode.Uri>();
  /** Per `host\0run`: the live tab's renames, one at a time. */
  private readonly renames = new Map<string, Promise<void>>();
  private readonly unsubscribes: (() => void)[] = [];

  constructor(private readonly ui: UiContext) {}

  /** Watches a newly attached run: refreshes its open documents and opens tabs according to the follow mode. */
  watch(session: RunSession): void {
    this.unsubscribes.push(
      session.code.onDidChange((run, cycle, candidate) => {
        const key = `${session.host}\u0000${run}`;
        const followed = this.following.get(key);
        const isNew = !followed || followed.cycle !== cycle || followed.candidate !== candidate;
        // Batched sampling streams several candidates at once: the live tab stays on one until its code is final,
        // then moves to the next one still streaming (never to an old candidate whose final event just landed).
        const followedDone = !followed || session.code.isFinal(run, followed.cycle, followed.candidate);
        if (isNew && followedDone && !session.code.isFinal(run, cycle, candidate)) this.following.set(key, { cycle, candidate });
        this.markDirty(candidateUri({ host: session.host, run, cycle, candidate }));
        this.markDirty(this.liveUriOf(session.host, run));
        this.renameLiveTab(session.host, run);
        if (isNew) void this.autoOpen(session, { host: session.host, run, cycle, candidate });
      }),
      session.subscribe({
        // Status, accuracy, novelty and verdict live in the header: any event may change it.
        onEvent: (event) => {
          if ('candidate' in event.data) {
            this.markDirty(candidateUri({ host: session.host, run: session.run, cycle: event.data.cycle, candidate: event.data.candidate }));
            this.markDirty(this.liveUriOf(session.host, session.run));
          }
        },
      }),
    );
  }

  /** The candidate a document shows (the followed one for a live tab). */
  addressOf(uri: vscode.Uri): CandidateAddress | undefined {
    if (uri.scheme !== CANDIDATE_SCHEME) return undefined;
    const direct = parseCandidatePath(uri.path);
    if (direct) return direct;
    const live = parseLivePath(uri.path);
    if (!live) return undefined;
    const followed = this.following.get(`${live.host}\u0000${live.run}`);
    return followed ? { ...live, ...followed } : undefined;
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const nearest = parseNearestPath(uri.path);
    if (nearest) return this.nearestContent(nearest.host, nearest.run, nearest.key);
    const address = this.addressOf(uri);
    if (!address) {
      const live = parseLivePath(uri.path);
      return live ? `# Live: waiting for run ${live.run} to generate a candidate…\n` : `# ${uri.toString()} does not name an ArchLoop candidate.\n`;
    }
    const session = this.ui.registry.session(address.host, address.run);
    if (!session) return `# ${address.candidate}: run ${address.run} on ${address.host} is not attached. Attach it to see this candidate.\n`;
    const view = session.view.cycles[address.cycle]?.candidates[address.candidate];
    const code = session.code.code(address.run, address.cycle, address.candidate);
    return candidateText(view, address, code, uri.query === CODE_ONLY);
  }

  /** Opens a candidate's own tab. */
  async open(address: CandidateAddress, options: vscode.TextDocumentShowOptions = {}): Promise<void> {
    const document = await vscode.workspace.openTextDocument(candidateUri(address));
    await vscode.languages.setTextDocumentLanguage(document, 'python');
    await vscode.window.showTextDocument(document, { preview: false, ...options });
  }

  private async autoOpen(session: RunSession, address: CandidateAddress): Promise<void> {
    const mode = settings().get<FollowMode>('followMode') ?? 'live';
    try {
      if (mode === 'live') {
        const key = `live\u0000${session.host}\u0000${session.run}`;
        if (this.opened.has(key)) return; // once per run: a closed live tab stays closed
        this.opened.add(key);
        const followed = this.following.get(`${session.host}\u0000${session.run}`);
        const uri = liveUri(session.host, session.run, followed?.candidate);
        this.liveUris.set(`${session.host}\u0000${session.run}`, uri);
        const document = await vscode.workspace.openTextDocument(uri);
        await vscode.languages.setTextDocumentLanguage(document, 'python');
        await vscode.window.showTextDocument(document, { preview: false, preserveFocus: true });
      } else if (mode === 'perCandidate' && !session.code.isFinal(address.run, address.cycle, address.candidate)) {
        await this.open(address, { preserveFocus: true });
      }
    } catch (error) {
      this.ui.log.warn(`could not open the tab of ${address.candidate}: ${String(error)}`);
    }
  }

  private async nearestContent(host: string, run: string, key: string): Promise<string> {
    const read = await this.nearestCode(host, run, key);
    return 'code' in read ? read.code : `# ${read.error}\n`;
  }

  /** The code of a nearest neighbour (a candidate of the run or a seed net on the host), or why it cannot be read. */
  async nearestCode(host: string, run: string, key: string): Promise<{ code: string } | { error: string }> {
    const session = this.ui.registry.session(host, run);
    const fromRun = session?.code.codeById(run, key);
    if (fromRun !== undefined) return { code: fromRun };
    const connection = this.ui.registry.host(host);
    const argv = connection ? seedSourceArgv(connection.backend.python, key) : undefined;
    if (!connection || !argv) return { error: `${key}: its code is not available here (not a seed net and not a candidate of this run).` };
    try {
      const result = await (await connection.backend.transport()).run(argv, backendRunOptions(connection.backend));
      if (result.code === 0) return { code: result.stdout };
      return { error: `${key}: reading it on ${host} failed (exit ${result.code}): ${result.stderr.trim().split('\n').at(-1) ?? ''}` };
    } catch (error) {
      return { error: `${key}: reading it on ${host} failed: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  private liveUriOf(host: string, run: string): vscode.Uri {
    return this.liveUris.get(`${host}\u0000${run}`) ?? liveUri(host, run);
  }

  /**
   * Gives the run's live tab the name of the candidate it now follows: a tab's name is its URI's, so the tab is
   * reopened under the new name where it was, and the old one closed. Only while the live tab is the one shown in its
   * group (reopening a tab in the background would bring it to the front); a closed live tab stays closed.
   */
  private renameLiveTab(host: string, run: string): void {
    const key = `${host}\u0000${run}`;
    const previous = this.renames.get(key) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = this.liveUris.get(key);
      const followed = this.following.get(key);
      if (!current || !followed) return;
      const wanted = liveUri(host, run, followed.candidate);
      if (wanted.toString() === current.toString()) return;
      const tab = vscode.window.tabGroups.all.flatMap((group) => group.tabs).find((t) => t.input instanceof vscode.TabInputText && t.input.uri.toString() === current.toString());
      if (!tab) {
        this.liveUris.delete(key); // closed by the user
        return;
      }
      if (!tab.isActive) return;
      this.liveUris.set(key, wanted);
      const document = await vscode.workspace.openTextDocument(wanted);
      await vscode.languages.setTextDocumentLanguage(document, 'python');
      await vscode.window.showTextDocument(document, { preview: false, preserveFocus: true, viewColumn: tab.group.viewColumn });
      await vscode.window.tabGroups.close(tab, true);
    });
    this.renames.set(
      key,
      next.catch((error: unknown) => this.ui.log.warn(`could not rename the live tab of ${run}: ${String(error)}`)),
    );
  }

  /** Coalesces change notifications: a streaming candidate changes many times a second; each change re-renders the tab. */
  private markDirty(uri: vscode.Uri): void {
    this.dirty.set(uri.toString(), uri);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const uris = [...this.dirty.values()];
      this.dirty.clear();
      for (const uri of uris) this.changeEmitter.fire(uri);
      this.revealEndOfLiveTabs(uris);
    }, 500); // slower than VS Code's CodeLens debounce, so lenses on a streaming tab get computed between updates
  }

  /** Keeps the live tab scrolled to the code being written. */
  private revealEndOfLiveTabs(changed: readonly vscode.Uri[]): void {
    const live = new Set(changed.filter((uri) => parseLivePath(uri.path)).map((uri) => uri.toString()));
    if (!live.size) return;
    setTimeout(() => {
      for (const editor of vscode.window.visibleTextEditors) {
        if (!live.has(editor.document.uri.toString())) continue;
        const last = editor.document.lineCount - 1;
        editor.revealRange(new vscode.Range(last, 0, last, 0), vscode.TextEditorRevealType.Default);
      }
    }, 50);
  }

  dispose(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.changeEmitter.dispose();
  }
}

/** A command argument naming a candidate: a tree node, an address, or nothing (then the active tab or a pick). */
export type CandidateArgument = TreeNode | CandidateAddress | undefined;

export async function resolveCandidate(ui: UiContext, documents: CandidateDocuments, arg: CandidateArgument): Promise<CandidateAddress | undefined> {
  if (arg && 'ref' in arg && arg.ref) return arg.ref;
  if (arg && 'candidate' in arg && 'run' in arg && 'host' in arg) return arg;
  const active = vscode.window.activeTextEditor?.document.uri;
  const fromEditor = active ? documents.addressOf(active) : undefined;
  if (fromEditor) return fromEditor;
  const session = ui.registry.focused();
  if (!session) {
    void vscode.window.showWarningMessage('ArchLoop: no run is attached. Start or attach one first.');
    return undefined;
  }
  const view = session.view;
  const items = [...view.cycleOrder].reverse().flatMap((cycle) => {
    const cycleView = view.cycles[cycle];
    return cycleView ? cycleView.order.map((id) => cycleView.candidates[id]).filter((c) => c !== undefined) : [];
  });
  const picked = await vscode.window.showQuickPick(
    items.map((c) => ({
      label: c.id,
      description: `cycle ${c.cycle} · ${c.status}${c.accuracy !== null ? ` · ${c.accuracy.toFixed(1)}%` : ''}${c.verdict ? ` · ${c.verdict}` : ''}`,
      address: { host: session.host, run: session.run, cycle: c.cycle, candidate: c.id },
    })),
    { title: `ArchLoop: candidates of ${view.name ?? session.run}`, matchOnDescription: true },
  );
  return picked?.address;
}

export function registerCandidateTabs(ui: UiContext): CandidateDocuments {
  const documents = new CandidateDocuments(ui);
  const watched = new Set<string>();
  const watchNew = (): void => {
    for (const session of ui.registry.sessions()) {
      const key = `${session.host}\u0000${session.run}`;
      if (watched.has(key)) continue;
      watched.add(key);
      documents.watch(session);
    }
  };
  ui.extension.subscriptions.push(
    documents,
    vscode.workspace.registerTextDocumentContentProvider(CANDIDATE_SCHEME, documents),
    { dispose: ui.registry.onDidChange(watchNew) },
    vscode.commands.registerCommand(COMMANDS.openCandidate, async (arg?: CandidateArgument) => {
      const address = await resolveCandidate(ui, documents, arg);
      if (!address) return;
      try {
        await documents.open(address);
      } catch (error) {
        reportError(ui, `cannot open ${address.candidate}`, error);
      }
    }),
  );
  return documents;
}
