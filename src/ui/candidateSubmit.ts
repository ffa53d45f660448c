/**
 * Edit and resubmit: "Edit as New Candidate" (CodeLens and title button of a candidate tab) copies a candidate's code
 * into an untitled Python editor that remembers it as the parent; "Submit as Candidate" sends the active editor's
 * code (that copy, a candidate tab, or any Python file) as a human-written candidate of the focused run's current
 * cycle. A refusal by the static check marks its problems at their lines (a DiagnosticCollection, cleared by the
 * next submission or when the document closes); an accepted one says its new id.
 */
import * as vscode from 'vscode';
import { CANDIDATE_SCHEME, candidateHeader, headerLineCount, type CandidateAddress } from '../session/candidateDocument';
import { problemRanges, readSubmitResult, submitMessage } from '../session/candidateSubmit';
import type { RunSession } from '../session/runSession';
import { COMMANDS } from './commandIds';
import { resolveCandidate, type CandidateArgument, type CandidateDocuments } from './candidateTabs';
import { reportError, type UiContext } from './uiContext';

/** What a submission sends and where its problems go. */
interface Submission {
  readonly session: RunSession;
  readonly code: string;
  readonly parent: string | null;
  /** Lines of the document above the code (a candidate tab's header). */
  readonly headerLines: number;
}

class EditLenses implements vscode.CodeLensProvider {
  constructor(private readonly documents: CandidateDocuments) {}

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const address = this.documents.addressOf(document.uri);
    if (!address) return [];
    return [
      new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), {
        title: 'Edit as New Candidate',
        command: COMMANDS.editAsNewCandidate,
        arguments: [address],
        tooltip: 'Copy its code into an editable file; Submit as Candidate sends it to the run with this one as its parent',
      }),
    ];
  }
}

export function registerCandidateSubmit(ui: UiContext, documents: CandidateDocuments): void {
  const diagnostics = vscode.languages.createDiagnosticCollection('archloop');
  // Untitled copies made by Edit as New Candidate, by URI: the candidate each was copied from.
  const parents = new Map<string, CandidateAddress>();

  const submissionOf = (document: vscode.TextDocument): Submission | string => {
    const fromTab = documents.addressOf(document.uri);
    if (fromTab) {
      const session = ui.registry.session(fromTab.host, fromTab.run);
      if (!session) return `run ${fromTab.run} on ${fromTab.host} is not attached`;
      const code = session.code.code(fromTab.run, fromTab.cycle, fromTab.candidate);
      if (code === undefined || !session.code.isFinal(fromTab.run, fromTab.cycle, fromTab.candidate)) return `${fromTab.candidate} is still being generated`;
      const view = session.view.cycles[fromTab.cycle]?.candidates[fromTab.candidate];
      // The tab shows the header above the code: the check's line numbers are the code's.
      return { session, code, parent: fromTab.candidate, headerLines: headerLineCount(candidateHeader(view, fromTab)) };
    }
    const parent = parents.get(document.uri.toString());
    const session = parent ? ui.registry.session(parent.host, parent.run) : ui.registry.focused();
    if (!session) return parent ? `run ${parent.run} on ${parent.host} is not attached` : 'no run is attached: start or attach one first';
    return { session, code: document.getText(), parent: parent?.candidate ?? null, headerLines: 0 };
  };

  const submit = async (): Promise<void> => {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== 'python') {
      void vscode.window.showWarningMessage('ArchLoop: open the Python file (or candidate) to submit, then run Submit as Candidate.');
      return;
    }
    const document = editor.document;
    const submission = submissionOf(document);
    if (typeof submission === 'string') {
      void vscode.window.showWarningMessage(`ArchLoop: cannot submit: ${submission}.`);
      return;
    }
    const { session, code, parent, headerLines } = submission;
    try {
      const answer = await session.client.request('candidate.submit', { code, cycle: 'current', ...(parent ? { parent } : {}) });
      const outcome = readSubmitResult(answer);
      const currentCycle = session.view.cycleOrder.at(-1) ?? null;
      if (outcome.accepted) {
        diagnostics.delete(document.uri);
        void vscode.window.showInformationMessage(`ArchLoop: ${submitMessage(outcome, parent, currentCycle)}`, 'Open').then((choice) => {
          if (choice) void documents.open({ host: session.host, run: session.run, cycle: outcome.cycle, candidate: outcome.candidate });
        });
        return;
      }
      const lines = Array.from({ length: document.lineCount }, (_, i) => document.lineAt(i).text);
      diagnostics.set(
        document.uri,
        problemRanges(outcome.problems, lines, headerLines).map((p) => {
          const diagnostic = new vscode.Diagnostic(new vscode.Range(p.line, p.start, p.line, p.end), p.message, vscode.DiagnosticSeverity.Error);
          diagnostic.source = 'ArchLoop check';
          return diagnostic;
        }),
      );
      void vscode.window.showErrorMessage(`ArchLoop: ${submitMessage(outcome, parent, currentCycle)}`);
    } catch (error) {
      reportError(ui, 'Submit as Candidate failed', error);
    }
  };

  const editAsNew = async (arg?: CandidateArgument): Promise<void> => {
    const address = await resolveCandidate(ui, documents, arg);
    if (!address) return;
    const store = ui.registry.session(address.host, address.run)?.code;
    const code = store?.isFinal(address.run, address.cycle, address.candidate) ? store.code(address.run, address.cycle, address.candidate) : undefined;
    if (code === undefined) {
      void vscode.window.showWarningMessage(`ArchLoop: ${address.candidate} has no code yet (still generating, or its run is not attached).`);
      return;
    }
    try {
      const copy = await vscode.workspace.openTextDocument({ language: 'python', content: code });
      parents.set(copy.uri.toString(), address);
      await vscode.window.showTextDocument(copy, { preview: false });
    } catch (error) {
      reportError(ui, `cannot copy ${address.candidate}`, error);
    }
  };

  ui.extension.subscriptions.push(
    diagnostics,
    vscode.languages.registerCodeLensProvider({ scheme: CANDIDATE_SCHEME }, new EditLenses(documents)),
    vscode.workspace.onDidCloseTextDocument((document) => {
      diagnostics.delete(document.uri);
      parents.delete(document.uri.toString());
    }),
    vscode.commands.registerCommand(COMMANDS.submitCandidate, submit),
    vscode.commands.registerCommand(COMMANDS.editAsNewCandidate, editAsNew),
  );
}
