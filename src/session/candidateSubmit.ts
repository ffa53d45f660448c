/**
 * Submitting a human-written candidate, as plain data: the answer of `candidate.submit` read into an outcome, the
 * static check's problems placed on the editor's lines (a candidate tab's header lines come before the code), and
 * the sentence the user sees. No vscode import: the extension turns `ProblemRange`s into diagnostics.
 */
import { CandidateSubmitResult, type CodeProblem } from '../protocol/messages';

/** Where one problem goes in the editor: 0-based line and the characters of that line to underline. */
export interface ProblemRange {
  readonly line: number;
  readonly start: number;
  readonly end: number;
  readonly message: string;
}

/**
 * Places each problem (1-based `line` in the submitted code; null or 0: no line) on the document: `offset` lines of
 * header come before the code. A problem without a line, or past the end, goes on the first code line or the last
 * line, so nothing the check said is dropped. Underlines the line's text without its indentation (one character on
 * an empty line). `lines` are the document's lines.
 */
export function problemRanges(problems: readonly CodeProblem[], lines: readonly string[], offset = 0): ProblemRange[] {
  const last = Math.max(0, lines.length - 1);
  return problems.map((problem) => {
    const wanted = problem.line !== null && problem.line > 0 ? offset + problem.line - 1 : offset;
    const line = Math.min(Math.max(0, wanted), last);
    const text = lines[line] ?? '';
    const start = text.length - text.trimStart().length;
    const end = Math.max(start + 1, text.trimEnd().length);
    return { line, start: Math.min(start, text.length), end, message: problem.message };
  });
}

export type SubmitOutcome =
  | { readonly accepted: true; readonly candidate: string; readonly cycle: number }
  | { readonly accepted: false; readonly outcome: string; readonly problems: readonly CodeProblem[] };

/** Reads the backend's answer; throws with what was wrong when it is not a CandidateSubmitResult (a backend too old). */
export function readSubmitResult(result: unknown): SubmitOutcome {
  const parsed = CandidateSubmitResult.safeParse(result);
  if (!parsed.success) {
    throw new Error(`the backend's answer to candidate.submit is not understood (${parsed.error.issues[0]?.message ?? 'bad shape'}); update ArchLoop on the host`);
  }
  return parsed.data;
}

/** The message shown after a submission. */
export function submitMessage(outcome: SubmitOutcome, parent: string | null, currentCycle: number | null): string {
  if (outcome.accepted) {
    const from = parent ? ` (edited from ${parent})` : '';
    const when = currentCycle !== null && outcome.cycle > currentCycle ? `; it runs when cycle ${outcome.cycle} starts` : '';
    return `submitted ${outcome.candidate}${from} to cycle ${outcome.cycle}: it goes through validation, novelty, evaluation and selection like the model's${when}.`;
  }
  const count = outcome.problems.length;
  return `not submitted: the check found ${count} problem${count === 1 ? '' : 's'} (${outcome.outcome}); they are marked in the editor.`;
}

/** Label of a candidate's origin in the tree and the tab header ('' for the model's). */
export function originLabel(c: { readonly origin: 'model' | 'human'; readonly parent: string | null }): string {
  if (c.origin !== 'human') return '';
  return c.parent ? `human-written, edited from ${c.parent}` : 'human-written';
}
