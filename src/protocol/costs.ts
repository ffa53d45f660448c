/**
 * A run's costs and lineage as the views show them: each cycle's ledger (what it spent, from cycle.finished's cost;
 * what its fine-tune was trained on, from finetune.done; the adapter that wrote its candidates, from cycle.started),
 * the run's totals, and how the next cycle moved after each fine-tune. Pure: used by the dashboard fold, the
 * dashboard's cost and lineage tables and the runs tree's tooltip.
 */
import type { CycleCost, CycleStats, DeviceKind, EventOf, TrainingOrigins } from './messages';

export interface CycleLedger {
  readonly cycle: number;
  /** The adapter that wrote this cycle's candidates (null: the base model). */
  readonly writer: string | null;
  /** The adapter this cycle's fine-tune saved, with what it was trained on and its final loss. */
  readonly adapter: string | null;
  readonly trainedOn: TrainingOrigins | null;
  readonly trainedTokens: number | null;
  readonly loss: number | null;
  readonly cost: CycleCost | null;
}

export function emptyLedger(cycle: number): CycleLedger {
  return { cycle, writer: null, adapter: null, trainedOn: null, trainedTokens: null, loss: null, cost: null };
}

type LedgerEvent = EventOf<'cycle.started'> | EventOf<'finetune.done'> | EventOf<'cycle.finished'>;

/** The ledger after one event (a new array only when it changed; rows stay in cycle order). */
export function applyToLedger(ledger: readonly CycleLedger[], event: LedgerEvent): readonly CycleLedger[] {
  const cycle = event.data.cycle;
  const at = ledger.findIndex((row) => row.cycle === cycle);
  const row = at >= 0 ? (ledger[at] as CycleLedger) : emptyLedger(cycle);
  let next: CycleLedger;
  switch (event.kind) {
    case 'cycle.started':
      next = { ...row, writer: event.data.adapter };
      break;
    case 'finetune.done':
      next = {
        ...row,
        adapter: event.data.adapter,
        trainedOn: event.data.pairsByOrigin ?? null,
        trainedTokens: event.data.tokens ?? null,
        loss: event.data.loss,
      };
      break;
    case 'cycle.finished':
      if (!event.data.cost) return ledger; // a run recorded before costs were
      next = { ...row, cost: event.data.cost };
      break;
  }
  if (at >= 0) return ledger.map((r, i) => (i === at ? next : r));
  return [...ledger, next].sort((a, b) => a.cycle - b.cycle);
}

export interface CostTotals {
  readonly cycles: number;
  readonly deviceSeconds: number;
  /** 'gpu' when any of it was GPU time. */
  readonly device: DeviceKind;
  readonly tokensGenerated: number;
  readonly tokensTrained: number;
  readonly novel40: number;
  readonly deviceSecondsPerNovel40: number | null;
  readonly byStage: { readonly generation: number; readonly validation: number; readonly evaluation: number; readonly finetune: number };
}

/** The totals over the finished cycles that recorded a cost. */
export function totalCost(costs: readonly (CycleCost | null)[]): CostTotals {
  const known = costs.filter((c): c is CycleCost => c !== null);
  const sum = (f: (c: CycleCost) => number): number => known.reduce((total, c) => total + f(c), 0);
  const deviceSeconds = sum((c) => c.deviceSeconds);
  const novel40 = sum((c) => c.novel40);
  return {
    cycles: known.length,
    deviceSeconds,
    device: known.some((c) => c.llmDevice === 'gpu' || c.evalDevice === 'gpu') ? 'gpu' : 'cpu',
    tokensGenerated: sum((c) => c.generation.tokens),
    tokensTrained: sum((c) => c.finetune.tokens),
    novel40,
    deviceSecondsPerNovel40: novel40 > 0 ? deviceSeconds / novel40 : null,
    byStage: {
      generation: sum((c) => c.generation.seconds),
      validation: sum((c) => c.validation.seconds),
      evaluation: sum((c) => c.evaluation.deviceSeconds),
      finetune: sum((c) => c.finetune.seconds),
    },
  };
}

/** The share of checked candidates the novelty filter found novel, in percent (null with none checked). */
export function novelPct(cost: CycleCost | null): number | null {
  if (!cost || cost.novelty.checked === 0) return null;
  return (100 * cost.novelty.novel) / cost.novelty.checked;
}

export interface LineageRow {
  readonly cycle: number;
  readonly adapter: string | null;
  readonly trainedOn: TrainingOrigins | null;
  readonly trainedTokens: number | null;
  readonly loss: number | null;
  /** The cycle that generated with this adapter, and how its figures moved against this one (null: not known yet). */
  readonly nextCycle: number;
  readonly validPctDelta: number | null;
  readonly meanAccDelta: number | null;
  readonly novelPctDelta: number | null;
}

function delta(after: number | null | undefined, before: number | null | undefined): number | null {
  return after === null || after === undefined || before === null || before === undefined ? null : after - before;
}

/** One row per fine-tuned adapter: what it was trained on, and how the cycle it wrote moved from the one before. */
export function lineageRows(ledger: readonly CycleLedger[], stats: readonly CycleStats[]): LineageRow[] {
  const statsOf = new Map(stats.map((s) => [s.cycle, s]));
  const costOf = new Map(ledger.map((l) => [l.cycle, l.cost]));
  return ledger
    .filter((l) => l.adapter !== null)
    .map((l) => {
      const before = statsOf.get(l.cycle);
      const after = statsOf.get(l.cycle + 1);
      return {
        cycle: l.cycle,
        adapter: l.adapter,
        trainedOn: l.trainedOn,
        trainedTokens: l.trainedTokens,
        loss: l.loss,
        nextCycle: l.cycle + 1,
        validPctDelta: delta(after?.validPct, before?.validPct),
        meanAccDelta: delta(after?.meanAcc, before?.meanAcc),
        novelPctDelta: delta(novelPct(costOf.get(l.cycle + 1) ?? null), novelPct(costOf.get(l.cycle) ?? null)),
      };
    });
}

/** "1.23 GPU-h", "42.0 CPU-s": device time with its unit. */
export function formatDeviceTime(seconds: number, device: DeviceKind): string {
  const unit = device === 'gpu' ? 'GPU' : 'CPU';
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(2)} ${unit}-h`;
  if (seconds >= 60) return `${(seconds / 60).toFixed(1)} ${unit}-min`;
  return `${seconds.toFixed(1)} ${unit}-s`;
}

/** The lines the runs tree's tooltip shows for a run's cost (none before a cycle with a cost has finished). */
export function costTooltipLines(costs: readonly (CycleCost | null)[]): string[] {
  const t = totalCost(costs);
  if (t.cycles === 0) return [];
  const per = t.deviceSecondsPerNovel40 === null ? 'no novel net ≥ 40 % yet' : `${formatDeviceTime(t.deviceSecondsPerNovel40, t.device)} per novel net ≥ 40 %`;
  return [
    `cost (${t.cycles} cycle${t.cycles === 1 ? '' : 's'}): ${formatDeviceTime(t.deviceSeconds, t.device)}, ${per}`,
    `tokens: ${t.tokensGenerated.toLocaleString('en-US')} generated, ${t.tokensTrained.toLocaleString('en-US')} trained`,
    `by stage: generation ${formatDeviceTime(t.byStage.generation, t.device)}, evaluation ${formatDeviceTime(t.byStage.evaluation, t.device)}, fine-tune ${formatDeviceTime(t.byStage.finetune, t.device)}, validation ${t.byStage.validation.toFixed(1)} s`,
  ];
}
