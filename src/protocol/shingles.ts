/**
 * Why the novelty filter called two nets similar: the 7-token shingles they share. Tokenised as the backend does
 * (remote-python/archloop/novelty/settings.py TOKEN_PATTERN `[A-Za-z_]\w*|[^\s]`, with Python's Unicode `\w`), and
 * cut into shingles of `width` consecutive tokens; a code shorter than one shingle is one shingle, as there.
 * The backend estimates the Jaccard index of these sets with MinHash; `exactJaccard` here is the value it estimates.
 * Pure; never throws.
 */

const TOKEN = /[A-Za-z_][\p{L}\p{N}\p{M}_]*|\S/gu;
export const SHINGLE_WIDTH = 7;

export function tokenize(code: string): string[] {
  return code.match(TOKEN) ?? [];
}

/** The distinct shingles of `code`, each as its tokens joined by one space, in order of first appearance. */
export function shingles(code: string, width = SHINGLE_WIDTH): string[] {
  const tokens = tokenize(code);
  if (tokens.length === 0) return [];
  const w = Math.min(width, tokens.length);
  const seen = new Set<string>();
  for (let i = 0; i + w <= tokens.length; i++) seen.add(tokens.slice(i, i + w).join(' '));
  return [...seen];
}

export interface SharedShingles {
  /** Shingles of both codes, in the order they appear in the first. */
  readonly shared: readonly string[];
  readonly left: number;
  readonly right: number;
  /** |shared| / |left ∪ right|: the exact Jaccard index the filter's MinHash estimates. */
  readonly jaccard: number;
  /** Share of each side's shingles that are shared. */
  readonly shareOfLeft: number;
  readonly shareOfRight: number;
}

export function sharedShingles(left: string, right: string, width = SHINGLE_WIDTH): SharedShingles {
  const a = shingles(left, width);
  const b = new Set(shingles(right, width));
  const shared = a.filter((s) => b.has(s));
  const union = a.length + b.size - shared.length;
  return {
    shared,
    left: a.length,
    right: b.size,
    jaccard: union === 0 ? 0 : shared.length / union,
    shareOfLeft: a.length === 0 ? 0 : shared.length / a.length,
    shareOfRight: b.size === 0 ? 0 : shared.length / b.size,
  };
}

/**
 * Shared shingles merged into the runs of source they cover: consecutive shared shingles overlap in 6 tokens, so a
 * copied block of 20 tokens is 14 shingles but one run. Each run is its tokens joined by spaces, longest first.
 */
export function sharedRuns(left: string, right: string, width = SHINGLE_WIDTH): string[] {
  const tokens = tokenize(left);
  const w = Math.min(width, tokens.length);
  const other = new Set(shingles(right, width));
  const runs: string[] = [];
  let start = -1;
  let end = -1;
  for (let i = 0; i + w <= tokens.length; i++) {
    if (!other.has(tokens.slice(i, i + w).join(' '))) continue;
    if (start >= 0 && i <= end) end = i + w;
    else {
      if (start >= 0) runs.push(tokens.slice(start, end).join(' '));
      start = i;
      end = i + w;
    }
  }
  if (start >= 0) runs.push(tokens.slice(start, end).join(' '));
  return [...new Set(runs)].sort((x, y) => y.length - x.length);
}

/**
 * Where `left`'s shared shingles lie in its text: merged [start, end) character ranges covering every token of a
 * shingle that `right` also has, in order, for highlighting the code that made the score.
 */
export function sharedSpans(left: string, right: string, width = SHINGLE_WIDTH): [number, number][] {
  const tokens = [...left.matchAll(TOKEN)].map((m) => ({ text: m[0], start: m.index, end: m.index + m[0].length }));
  if (tokens.length === 0) return [];
  const w = Math.min(width, tokens.length);
  const other = new Set(shingles(right, width));
  const spans: [number, number][] = [];
  for (let i = 0; i + w <= tokens.length; i++) {
    if (!other.has(tokens.slice(i, i + w).map((t) => t.text).join(' '))) continue;
    const start = (tokens[i] as { start: number }).start;
    const end = (tokens[i + w - 1] as { end: number }).end;
    const last = spans.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else spans.push([start, end]);
  }
  return spans;
}
