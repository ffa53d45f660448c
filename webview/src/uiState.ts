/**
 * What the webview remembers across hide/reload through VS Code's getState/setState: which tab, filters, sort,
 * selection and toggles. Run data is not kept there (the host sends a fresh snapshot on every `ready`).
 */
import { z } from 'zod';
import { CompareMetricId } from '../../src/protocol/comparison';
import { CANDIDATE_LABELS } from '../../src/protocol/dashboardState';
import { DEFAULT_QUERY, SORT_KEYS, type CandidateQuery } from './candidateQuery';

export const VIEW_IDS = ['cycles', 'novelty', 'candidates', 'live', 'compare'] as const;
export type ViewId = (typeof VIEW_IDS)[number];

const PersistedUiState = z.object({
  view: z.enum(VIEW_IDS),
  /** The paper's rows over the run's: null follows the run (on once it has a finished cycle), true/false is the user's. */
  paperReference: z.boolean().nullable(),
  noveltyCycle: z.int().nullable(),
  /** The Compare tab's figure and whether it shows the paper's rows (off until the user turns it on). */
  compareMetric: CompareMetricId.default('meanAcc'),
  comparePaper: z.boolean().default(false),
  selectedKey: z.string().max(300).nullable(),
  query: z.object({
    cycle: z.int().nullable(),
    status: z.enum([...CANDIDATE_LABELS, 'any']),
    verdict: z.enum(['accept', 'reject', 'none', 'any']),
    text: z.string().max(1000),
    sortKey: z.enum(SORT_KEYS),
    sortDirection: z.enum(['asc', 'desc']),
  }),
});
export type UiState = z.infer<typeof PersistedUiState> & { readonly query: CandidateQuery };

export const DEFAULT_UI_STATE: UiState = {
  view: 'cycles',
  paperReference: null,
  noveltyCycle: null,
  compareMetric: 'meanAcc',
  comparePaper: false,
  selectedKey: null,
  query: DEFAULT_QUERY,
};

/** Reads a persisted UI state; anything missing or malformed (an older version, a hand edit) falls back to defaults. */
export function restoreUiState(saved: unknown): UiState {
  const parsed = PersistedUiState.safeParse(saved);
  return parsed.success ? parsed.data : DEFAULT_UI_STATE;
}
