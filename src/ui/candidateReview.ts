/**
 * Reviewing a candidate: Accept / Reject / Annotate… / Compare with Nearest Neighbour, from the CodeLens at the top of
 * its tab, the tree's context menu, the dashboard and the palette. Verdicts and notes are requests to the run's
 * daemon; they show everywhere once the backend's `candidate.verdict` / `candidate.annotated` event comes back.
 * A refused or failed request is shown with its reason, and a failed annotation offers to retry with the user's
 * text kept.
 */
import * as vscode from 'vscode';
import { parseTags } from '../protocol/dashboard';
import type { Verdict } from '../protocol/messages';
import { CANDIDATE_SCHEME, nearestPath, type CandidateAddress } from '../session/candidateDocument';
import { verdictEffect } from '../session/views/runView';
import { COMMANDS } from './commandIds';
import { codeOnlyUri, resolveCandidate, type CandidateArgument, type CandidateDocuments } from './candidateTabs';
import { reportError, type UiContext } from './uiContext';

export interface CandidateReview {
  verdict(address: CandidateAddress, verdict: Verdict | null): Promise<void>;
  annotate(address: CandidateAddress, text: string, tags: readonly string[]): Promise<void>;
  diff(address: CandidateAddress, nearest?: string): Promise<void>;
}

class ReviewLenses implements vscode.CodeLensProvider {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changeEmitter.event;

  constructor(
    private readonly ui: UiContext,
    private readonly documents: CandidateDocuments,
  ) {}

  refresh(): void {
    this.changeEmitter.fire();
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const address = this.documents.addressOf(document.uri);
    if (!address) return [];
    const candidate = this.ui.registry.session(address.host, address.run)?.view.cycles[address.cycle]?.candidates[address.candidate];
    const top = new vscode.Range(0, 0, 0, 0);
    const mark = (verdict: Verdict): string => (candidate?.verdict === verdict ? '$(check) ' : '');
    const lenses = [
      new vscode.CodeLens(top, { title: `${mark('accept')}Accept`, command: COMMANDS.acceptCandidate, arguments: [address], tooltip: 'Put it into the fine-tuning set' }),
      new vscode.CodeLens(top, { title: `${mark('reject')}Reject`, command: COMMANDS.rejectCandidate, arguments: [address], tooltip: 'Keep it out of fine-tuning and the novelty corpus' }),
      new vscode.CodeLens(top, { title: 'Annotate…', command: COMMANDS.annotateCandidate, arguments: [address] }),
    ];
    if (candidate?.accuracy !== null && candidate?.accuracy !== undefined) {
      lenses.push(new vscode.CodeLens(top, { title: 'Re-check…', command: COMMANDS.recheckCandidate, arguments: [address], tooltip: 'Train it longer (epochs, seeds) behind the loop' }));
    }
    if (candidate?.nearest) {
      lenses.push(
        new vscode.CodeLens(top, {
          title: `Diff with nearest (${candidate.nearest}, J ${candidate.maxJaccard?.toFixed(2) ?? '?'})`,
          command: COMMANDS.diffNearest,
          arguments: [address],
        }),
      );
    }
    return lenses;
  }
}

export function registerCandidateReview(ui: UiContext, documents: CandidateDocuments): CandidateReview {
  const review: CandidateReview = {
    async verdict(address, verdict) {
      const session = ui.registry.session(address.host, address.run);
      if (!session) throw new Error(`run ${address.run} is not attached`);
      await session.client.request('candidate.verdict', { candidate: address.candidate, verdict });
    },
    async annotate(address, text, tags) {
      const session = ui.registry.session(address.host, address.run);
      if (!session) throw new Error(`run ${address.run} is not attached`);
      await session.client.request('candidate.annotate', { candidate: address.candidate, text, tags: [...tags] });
    },
    async diff(address, nearestKey) {
      const candidate = ui.registry.session(address.host, address.run)?.view.cycles[address.cycle]?.candidates[address.candidate];
      const nearest = nearestKey ?? candidate?.nearest ?? undefined;
      if (!nearest) {
        void vscode.window.showInformationMessage(`ArchLoop: ${address.candidate} has no nearest neighbour yet (the novelty filter has not run, or nothing was close).`);
        return;
      }
      const left = vscode.Uri.from({ scheme: CANDIDATE_SCHEME, path: nearestPath(address.host, address.run, nearest) });
      const jaccard = candidate?.maxJaccard !== null && candidate?.maxJaccard !== undefined ? candidate.maxJaccard.toFixed(3) : '?';
      // Code against code: the candidate tab's header lines would otherwise open the diff as changes.
      await vscode.commands.executeCommand('vscode.diff', left, codeOnlyUri(address), `${nearest} ↔ ${address.candidate} (Jaccard ${jaccard})`, { preview: false });
    },
  };

  const lenses = new ReviewLenses(ui, documents);
  let lastSeen = -1;
  const giveVerdict = (verdict: Verdict) => async (arg?: CandidateArgument) => {
    const address = await resolveCandidate(ui, documents, arg);
    if (!address) return;
    const view = ui.registry.session(address.host, address.run)?.view;
    const current = view?.cycles[address.cycle]?.candidates[address.candidate]?.verdict ?? null;
    // Pressing the verdict a candidate already has takes it back.
    const next = current === verdict ? null : verdict;
    try {
      await review.verdict(address, next);
      const effect = view ? `: this affects ${verdictEffect(view, address.cycle)}` : '';
      void vscode.window.showInformationMessage(`ArchLoop: ${address.candidate} ${next ? `${next}ed` : 'verdict cleared'}${effect}.`);
    } catch (error) {
      reportError(ui, `${verdict} ${address.candidate} failed`, error);
    }
  };

  const annotate = async (arg?: CandidateArgument, keptText = '', keptTags = ''): Promise<void> => {
    const address = await resolveCandidate(ui, documents, arg);
    if (!address) return;
    const text = await vscode.window.showInputBox({ title: `ArchLoop: note on ${address.candidate}`, value: keptText, prompt: 'Free text', ignoreFocusOut: true });
    if (text === undefined || !text.trim()) return;
    const tagText = await vscode.window.showInputBox({ title: `ArchLoop: tags for ${address.candidate}`, value: keptTags, prompt: 'Optional, separated by commas or spaces', ignoreFocusOut: true });
    if (tagText === undefined) return;
    try {
      await review.annotate(address, text, parseTags(tagText));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ui.log.error(`annotating ${address.candidate} failed: ${message}`);
      const retry = await vscode.window.showErrorMessage(`ArchLoop: the note on ${address.candidate} was not saved: ${message}`, 'Retry');
      if (retry) await annotate(address, text, tagText);
    }
  };

  ui.extension.subscriptions.push(
    vscode.languages.registerCodeLensProvider({ scheme: CANDIDATE_SCHEME }, lenses),
    // Lenses depend on verdicts and novelty, which arrive as events (never as stream deltas): refresh when the
    // event count moves, not on every registry change, or a streaming run would keep cancelling their computation.
    {
      dispose: ui.registry.onDidChange(() => {
        const seen = ui.registry.sessions().reduce((sum, session) => sum + session.view.lastSeq, 0);
        if (seen !== lastSeen) {
          lastSeen = seen;
          lenses.refresh();
        }
      }),
    },
    vscode.commands.registerCommand(COMMANDS.acceptCandidate, giveVerdict('accept')),
    vscode.commands.registerCommand(COMMANDS.rejectCandidate, giveVerdict('reject')),
    vscode.commands.registerCommand(COMMANDS.annotateCandidate, (arg?: CandidateArgument) => annotate(arg)),
    vscode.commands.registerCommand(COMMANDS.diffNearest, async (arg?: CandidateArgument) => {
      const address = await resolveCandidate(ui, documents, arg);
      if (!address) return;
      try {
        await review.diff(address);
      } catch (error) {
        reportError(ui, `cannot compare ${address.candidate}`, error);
      }
    }),
  );
  return review;
}
