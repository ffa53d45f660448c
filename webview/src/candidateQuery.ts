/**
 * Filtering and sorting the candidates table: pure functions over the reducer's rows, returning row positions so the
 * view can virtualise (render only the visible slice of a 10,000-row result).
 */
import type { Verdict } from '../../src/protocol/messages';
import type { CandidateLabel, CandidateRow } from '../../src/protocol/dashboardState';

export const SORT_KEYS = [
  'cycle',
  'id',
  'status',
  'accuracy',
  'params',
  'trainSeconds',
  'maxJaccard',
  'nearest',
  'verdict',
  'annotation',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDirection = 'asc' | 'desc';
export type VerdictFilter = Verdict | 'none' | 'any';

export interface CandidateQuery {
  readonly cycle: number | null;
  readonly status: CandidateLabel | 'any';
  readonly verdict: VerdictFilter;
  /** Case-insensitive substring of id, error class, message, nearest neighbour, annotation or tags. */
  readonly text: string;
  readonly sortKey: SortKey;
  readonly sortDirection: SortDirection;
}

export const DEFAULT_QUERY: CandidateQuery = {
  cycle: null,
  status: 'any',
  verdict: 'any',
  text: '',
  sortKey: 'cycle',
  sortDirection: 'asc',
};

export function isSortKey(value: unknown): value is SortKey {
  return typeof value === 'string' && (SORT_KEYS as readonly string[]).includes(value);
}

function sortValue(row: CandidateRow, key: SortKey): string | number | null {
  switch (key) {
    case 'cycle':
      return row.cycle;
    case 'id':
      return row.id;
    case 'status':
      return row.errorClass ? `${row.status}:${row.errorClass}` : row.status;
    case 'verdict':
      return row.verdict;
    case 'annotation':
      return row.annotation === '' ? null : row.annotation;
    default:
      return row[key];
  }
}

function matchesText(row: CandidateRow, needle: string): boolean {
  const haystacks = [row.id, row.errorClass, row.message, row.nearest, row.annotation, ...row.tags];
  return haystacks.some((text) => text !== null && text.toLowerCase().includes(needle));
}

/** Positions (into `rows`) of the rows that pass the filters, in sort order; empty cells sort last either way. */
export function queryCandidates(rows: readonly CandidateRow[], query: CandidateQuery): number[] {
  const needle = query.text.trim().toLowerCase();
  const positions: number[] = [];
  for (let position = 0; position < rows.length; position++) {
    const row = rows[position] as CandidateRow;
    if (query.cycle !== null && row.cycle !== query.cycle) continue;
    if (query.status !== 'any' && row.status !== query.status) continue;
    if (query.verdict !== 'any' && (row.verdict ?? 'none') !== query.verdict) continue;
    if (needle !== '' && !matchesText(row, needle)) continue;
    positions.push(position);
  }
  // Precompute keys once: a comparator that re-derives them costs n log n lookups on 10,000 rows.
  const keys = positions.map((position) => sortValue(rows[position] as CandidateRow, query.sortKey));
  const order = positions.map((_, i) => i);
  const direction = query.sortDirection === 'asc' ? 1 : -1;
  order.sort((a, b) => {
    const ka = keys[a] ?? null;
    const kb = keys[b] ?? null;
    if (ka === kb) return positions[a]! - positions[b]!;
    if (ka === null) return 1;
    if (kb === null) return -1;
    const cmp = typeof ka === 'number' && typeof kb === 'number' ? ka - kb : String(ka).localeCompare(String(kb));
    return cmp === 0 ? positions[a]! - positions[b]! : cmp * direction;
  });
  return order.map((i) => positions[i]!);
}
