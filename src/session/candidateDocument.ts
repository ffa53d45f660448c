/**
 * What a candidate's read-only editor tab shows, as plain data: its `archloop:` URI, the code collected from token
 * streams and the final `candidate.generated` event, and the comment header with status, accuracy and novelty.
 * Pure apart from the store's listeners; never throws on protocol input (a stream with a gap is recorded, not fatal).
 */
import type { Event, Stream } from '../protocol/messages';
import { MEASURE_LABEL, describeEvaluation, formatMegabytes, measureSays, noveltyVerdict, selectReasonText } from '../protocol/candidateFacts';
import { originLabel } from './candidateSubmit';
import { formatPercent, statusLabel } from './views/candidatePresentation';
import type { CandidateView } from './views/runView';

export const CANDIDATE_SCHEME = 'archloop';

/** Which candidate a tab shows; `host` is the connection name ("Local", an SSH alias). */
export interface CandidateAddress {
  readonly host: string;
  readonly run: string;
  readonly cycle: number;
  readonly candidate: string;
}

/** The path part of a candidate URI: `/<host>/<run>/<cycle>/<candidate>.py` with each segment percent-encoded. */
export function candidatePath(address: CandidateAddress): string {
  return `/${[address.host, address.run, String(address.cycle), `${address.candidate}.py`].map(encodeURIComponent).join('/')}`;
}

/** Reverses candidatePath; undefined for any path that is not one (a hand-typed or stale URI). */
export function parseCandidatePath(path: string): CandidateAddress | undefined {
  const parts = path.replace(/^\//, '').split('/');
  if (parts.length !== 4) return undefined;
  try {
    const [host, run, cycleText, file] = parts.map(decodeURIComponent) as [string, string, string, string];
    const cycle = Number(cycleText);
    if (!host || !run || !Number.isInteger(cycle) || cycle < 0 || !file.endsWith('.py') || file.length <= 3) return undefined;
    return { host, run, cycle, candidate: file.slice(0, -3) };
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/** The corpus-net path used as the left side of a nearest-neighbour diff: `/<host>/<run>/nearest/<key>.py`. */
export function nearestPath(host: string, run: string, key: string): string {
  return `/${[host, run, 'nearest', `${key}.py`].map(encodeURIComponent).join('/')}`;
}

export function parseNearestPath(path: string): { host: string; run: string; key: string } | undefined {
  const parts = path.replace(/^\//, '').split('/');
  if (parts.length !== 4 || parts[2] !== 'nearest') return undefined;
  try {
    const [host, run, , file] = parts.map(decodeURIComponent) as [string, string, string, string];
    return file.endsWith('.py') ? { host, run, key: file.slice(0, -3) } : undefined;
  } catch {
    return undefined;
  }
}

/** Python comment lines above the code: what a reviewer needs before reading it. */
export function candidateHeader(candidate: CandidateView | undefined, address: CandidateAddress): string {
  if (!candidate) return `# ${address.candidate} (cycle ${address.cycle}): not seen yet in run ${address.run}\n`;
  const origin = originLabel(candidate);
  const lines = [
    `# ${candidate.id} · cycle ${candidate.cycle}${origin ? ` · ${origin}` : ''} · ${statusLabel(candidate)}${candidate.outcome && candidate.outcome !== 'ok' ? ` (${candidate.outcome})` : ''}`,
  ];
  const facts: string[] = [];
  if (candidate.accuracy !== null) facts.push(`accuracy ${formatPercent(candidate.accuracy)} (${describeEvaluation(candidate.evaluatedOn)})`);
  if (candidate.params !== null) facts.push(`${candidate.params.toLocaleString('en-US')} parameters`);
  if (candidate.training?.trainSeconds != null) facts.push(`trained in ${candidate.training.trainSeconds.toFixed(1)} s`);
  if (candidate.training?.peakMemoryMB != null) facts.push(`peak memory ${formatMegabytes(candidate.training.peakMemoryMB)}`);
  if (facts.length) lines.push(`# ${facts.join(' · ')}`);
  if (candidate.novel !== null) {
    const attempts = candidate.generation ? ` · ${candidate.generation.attempts} sampling attempt${candidate.generation.attempts === 1 ? '' : 's'}` : '';
    lines.push(`# ${noveltyVerdict(noveltyFactsOf(candidate))}${attempts}`);
  }
  if (candidate.noveltyMeasures.length > 0) {
    const measures = candidate.noveltyMeasures.map((m) => `${MEASURE_LABEL[m.measure].short} ${m.score.toFixed(2)} ${measureSays(m)}${m.gate ? '' : ' (not in the gate)'}`);
    lines.push(`# novelty three ways: ${measures.join(' · ')}`);
  }
  const verdict = candidate.verdict ? `verdict: ${candidate.verdict}${candidate.verdictLate ? ' (counts from the next fine-tune)' : ''}` : 'verdict: none';
  lines.push(`# ${verdict}${candidate.selected ? ` · ${selectReasonText(true, candidate.selectReason)}` : ''}`);
  if (candidate.message && candidate.outcome !== 'ok') lines.push(`# ${candidate.message.split('\n')[0]?.slice(0, 200) ?? ''}`);
  for (const note of candidate.annotations) lines.push(`# note: ${note.text.replace(/\n/g, ' ')}${note.tags.length ? ` [${note.tags.join(', ')}]` : ''}`);
  return `${lines.join('\n')}\n`;
}

function noveltyFactsOf(c: CandidateView): Parameters<typeof noveltyVerdict>[0] {
  return { novel: c.novel, maxJaccard: c.maxJaccard, nearest: c.nearest, attempts: c.generation?.attempts ?? null, evaluated: c.step === 'evaluated' };
}

/**
 * What a candidate's document holds: the header lines, then its code; or, for the nearest-neighbour diff, the code
 * alone, so the diff compares code with code and does not open on the header lines.
 */
export function candidateText(candidate: CandidateView | undefined, address: CandidateAddress, code: string | undefined, codeOnly: boolean): string {
  if (codeOnly) return code ?? '';
  return `${candidateHeader(candidate, address)}${code ?? '# (no code received yet)\n'}`;
}

/** Number of lines candidateHeader produced: CodeLens and "follow the end" need to know where the code starts. */
export function headerLineCount(header: string): number {
  return header.split('\n').length - 1;
}

interface CodeEntry {
  text: string;
  final: boolean;
  /** True when a stream delta started past the end of what we had (a missed piece). */
  gap: boolean;
  /** The model's reply as generated, when `candidate.generated` carried it (it held more than the code). */
  raw?: string;
}

/**
 * Candidates' code as it streams. Keyed by run/cycle/candidate. The persistent event replaces whatever the stream
 * delivered, because deltas are ephemeral and may have been missed.
 */
export class CandidateCodeStore {
  private readonly entries = new Map<string, CodeEntry>();
  private readonly listeners = new Set<(run: string, cycle: number, candidate: string) => void>();

  private static key(run: string, cycle: number, candidate: string): string {
    return `${run}\u0000${cycle}\u0000${candidate}`;
  }

  code(run: string, cycle: number, candidate: string): string | undefined {
    return this.entries.get(CandidateCodeStore.key(run, cycle, candidate))?.text;
  }

  /** The model's raw reply for a candidate, when its `candidate.generated` event carried one. */
  raw(run: string, cycle: number, candidate: string): string | undefined {
    return this.entries.get(CandidateCodeStore.key(run, cycle, candidate))?.raw;
  }

  /** Code of any candidate with this id in the run (the novelty filter names neighbours by id alone). */
  codeById(run: string, candidate: string): string | undefined {
    for (const [key, entry] of this.entries) {
      const [entryRun, , entryCandidate] = key.split('\u0000');
      if (entryRun === run && entryCandidate === candidate) return entry.text;
    }
    return undefined;
  }

  /**
   * The code of the run's candidates still streaming, longest first, each as one stream piece holding its last
   * `keepChars` characters (what a dashboard opened mid-stream starts from).
   */
  streaming(run: string, keepChars = 4096): Stream[] {
    const pieces: Stream[] = [];
    for (const [key, entry] of this.entries) {
      const [entryRun, cycle, candidate] = key.split('\u0000');
      if (entryRun !== run || entry.final || candidate === undefined) continue;
      const delta = entry.text.slice(-keepChars);
      pieces.push({ type: 'stream', run, cycle: Number(cycle), candidate, offset: entry.text.length - delta.length, delta, done: false });
    }
    return pieces.sort((a, b) => b.offset + b.delta.length - (a.offset + a.delta.length));
  }

  isFinal(run: string, cycle: number, candidate: string): boolean {
    return this.entries.get(CandidateCodeStore.key(run, cycle, candidate))?.final ?? false;
  }

  onDidChange(listener: (run: string, cycle: number, candidate: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  applyStream(stream: Stream): void {
    const key = CandidateCodeStore.key(stream.run, stream.cycle, stream.candidate);
    const entry = this.entries.get(key) ?? { text: '', final: false, gap: false };
    if (entry.final) return;
    if (stream.offset > entry.text.length) {
      entry.gap = true;
      entry.text = `${entry.text}${stream.delta}`;
    } else {
      // Overlapping or repeated delta (after a re-attach): write it at its offset.
      entry.text = `${entry.text.slice(0, stream.offset)}${stream.delta}${entry.text.slice(stream.offset + stream.delta.length)}`;
    }
    this.entries.set(key, entry);
    this.emit(stream.run, stream.cycle, stream.candidate);
  }

  applyEvent(event: Event): void {
    if (event.kind !== 'candidate.generated') return;
    this.entries.set(CandidateCodeStore.key(event.run, event.data.cycle, event.data.candidate), {
      text: event.data.code,
      final: true,
      gap: false,
      ...(event.data.raw !== undefined ? { raw: event.data.raw } : {}),
    });
    this.emit(event.run, event.data.cycle, event.data.candidate);
  }

  private emit(run: string, cycle: number, candidate: string): void {
    for (const listener of this.listeners) listener(run, cycle, candidate);
  }
}

/**
 * The one "live" tab of a run, which shows whichever candidate is being generated, named after it:
 * `/<host>/<run>/live/<candidate>.live.py` (`live.py` before the first candidate).
 */
export function livePath(host: string, run: string, candidate?: string): string {
  return `/${[host, run, 'live', candidate ? `${candidate}.live.py` : 'live.py'].map(encodeURIComponent).join('/')}`;
}

export function parseLivePath(path: string): { host: string; run: string } | undefined {
  const parts = path.replace(/^\//, '').split('/');
  if (parts.length !== 4 || parts[2] !== 'live' || !(parts[3] === 'live.py' || parts[3]?.endsWith('.live.py'))) return undefined;
  try {
    return { host: decodeURIComponent(parts[0] as string), run: decodeURIComponent(parts[1] as string) };
  } catch {
    return undefined;
  }
}

/**
 * The argv that prints a seed net's code on the host (`seed:<name>` keys name files in archloop/corpus/seeds/), or
 * undefined for any other key. The name travels as an argument, never inside the Python source.
 */
export function seedSourceArgv(python: string, key: string): string[] | undefined {
  const match = /^seed:([A-Za-z0-9_]+)$/.exec(key);
  if (!match) return undefined;
  const script =
    // Reads the file as text and drops its `# family:` line as the backend does; importing archloop's model code
    // instead would load torch (seconds) just to print a file.
    'import sys, importlib.resources as r\n' +
    "code = r.files('archloop.corpus.seeds').joinpath(sys.argv[1] + '.py').read_text()\n" +
    "sys.stdout.write(code.split('\\n', 1)[1] if code.startswith('# family:') else code)";
  return [python, '-c', script, match[1] as string];
}
