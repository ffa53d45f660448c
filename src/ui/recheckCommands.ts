/**
 * Re-checks from the editor: "ArchLoop: Re-check Candidates…" (the top K of a cycle, E epochs, S seeds) and
 * "Re-check This Candidate…" (CodeLens and the tree's context menu). Each sends `candidate.recheck`; the daemon
 * queues it behind the loop and the results come back as `candidate.rechecked` events (the dashboard's Novelty tab).
 */
import * as vscode from 'vscode';
import type { Request } from '../protocol/messages';
import type { RunSession } from '../session/runSession';
import { COMMANDS } from './commandIds';
import { resolveCandidate, type CandidateArgument, type CandidateDocuments } from './candidateTabs';
import { reportError, type UiContext } from './uiContext';

function whole(low: number, high: number): (value: string) => string | undefined {
  return (value) => {
    const n = Number(value.trim());
    return Number.isInteger(n) && n >= low && n <= high ? undefined : `a whole number from ${low} to ${high}`;
  };
}

async function ask(title: string, prompt: string, value: string, low: number, high: number): Promise<number | undefined> {
  const text = await vscode.window.showInputBox({ title, prompt, value, validateInput: whole(low, high), ignoreFocusOut: true });
  return text === undefined ? undefined : Number(text.trim());
}

/** Epochs and seeds for a re-check, asked one after the other; undefined when the user cancels. */
async function askLength(what: string): Promise<{ epochs: number; seeds: number } | undefined> {
  const epochs = await ask(`ArchLoop: re-check ${what}`, 'Epochs to train each (the loop trains 1)', '5', 1, 1000);
  if (epochs === undefined) return undefined;
  const seeds = await ask(`ArchLoop: re-check ${what}`, 'Seeds per candidate (each a separate evaluation)', '1', 1, 100);
  return seeds === undefined ? undefined : { epochs, seeds };
}

async function send(ui: UiContext, session: RunSession, params: Extract<Request, { method: 'candidate.recheck' }>['params'], what: string): Promise<void> {
  try {
    const result = (await session.client.request('candidate.recheck', params)) as { jobs?: number; recheck?: string } | undefined;
    const jobs = result?.jobs ?? 0;
    void vscode.window.showInformationMessage(`ArchLoop: re-check of ${what} queued (${jobs} evaluation${jobs === 1 ? '' : 's'}); it runs behind the loop.`);
  } catch (error) {
    reportError(ui, `re-check of ${what} failed`, error);
  }
}

export function registerRecheckCommands(ui: UiContext, documents: CandidateDocuments): void {
  const topOfCycle = async (): Promise<void> => {
    const session = ui.registry.focused();
    if (!session) {
      void vscode.window.showWarningMessage('ArchLoop: no run is attached. Start or attach one first.');
      return;
    }
    const cycles = Object.keys(session.view.cycles).map(Number).sort((a, b) => b - a);
    const picked = await vscode.window.showQuickPick(
      cycles.map((cycle) => ({ label: `Cycle ${cycle}`, cycle })),
      { title: 'ArchLoop: re-check the top candidates of which cycle?' },
    );
    if (!picked) return;
    const topK = await ask(`ArchLoop: re-check cycle ${picked.cycle}`, 'How many of its best candidates (by one-epoch accuracy)', '5', 1, 1000);
    if (topK === undefined) return;
    const length = await askLength(`the top ${topK} of cycle ${picked.cycle}`);
    if (!length) return;
    await send(ui, session, { candidates: { cycle: picked.cycle, top_k: topK }, ...length }, `the top ${topK} of cycle ${picked.cycle}`);
  };

  const one = async (arg?: CandidateArgument): Promise<void> => {
    const address = await resolveCandidate(ui, documents, arg);
    if (!address) return;
    const session = ui.registry.session(address.host, address.run);
    if (!session) return;
    const length = await askLength(address.candidate);
    if (!length) return;
    await send(ui, session, { candidates: [address.candidate], ...length }, address.candidate);
  };

  ui.extension.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.recheckCandidates, topOfCycle),
    vscode.commands.registerCommand(COMMANDS.recheckCandidate, one),
  );
}
