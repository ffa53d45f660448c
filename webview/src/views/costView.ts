/**
 * Costs and lineage, under the cycle table: what each cycle spent per stage (device time, tokens, time per novel net
 * ≥ 40 %) with the run's totals, what ended the run when a budget did, and per fine-tune what it was trained on and
 * how the next cycle's valid %, mean accuracy and novelty moved.
 */
import { formatDeviceTime, lineageRows, totalCost, type CycleLedger } from '../../../src/protocol/costs';
import type { DashboardState } from '../../../src/protocol/dashboardState';
import type { CycleStats } from '../../../src/protocol/messages';
import { h, setText } from '../dom';
import { formatCount } from '../format';

function headerRow(labels: readonly string[]): HTMLTableRowElement {
  return h('tr', {}, labels.map((label) => h('th', { text: label, attrs: { scope: 'col' } })));
}

function signed(value: number | null, unit: string): string {
  if (value === null) return '—';
  return `${value > 0 ? '+' : value < 0 ? '−' : '±'}${Math.abs(value).toFixed(1)}${unit}`;
}

export class CostView {
  readonly element: HTMLElement;
  private readonly endedBy: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly costBody: HTMLTableSectionElement;
  private readonly lineageBody: HTMLTableSectionElement;
  private ledger: readonly CycleLedger[] | null = null;
  private stats: readonly CycleStats[] | null = null;

  constructor() {
    this.endedBy = h('p', { className: 'notice', dataset: { testid: 'ended-by' }, attrs: { hidden: '' } });
    this.summary = h('p', { className: 'summary', dataset: { testid: 'cost-summary' } });
    this.costBody = h('tbody');
    this.lineageBody = h('tbody');
    this.element = h('section', { className: 'cost-view' }, [
      h('h3', { text: 'Cost per cycle' }),
      this.endedBy,
      this.summary,
      h('table', { className: 'data-table cost-table', dataset: { testid: 'cost-table' } }, [
        h('thead', {}, [
          headerRow(['Cycle', 'Device', 'Generation', 'Tokens generated', 'Validation', 'Evaluation', 'Fine-tune', 'Tokens trained', 'Total', 'Novel ≥ 40 %', 'Per novel ≥ 40 %']),
        ]),
        this.costBody,
      ]),
      h('h3', { text: 'Lineage: what each fine-tune trained on, and the next cycle' }),
      h('table', { className: 'data-table lineage-table', dataset: { testid: 'lineage-table' } }, [
        h('thead', {}, [
          headerRow(['Adapter', 'LEMUR', 'Seed', 'Selected', 'Accepted', 'Tokens trained', 'Final loss', 'Next cycle', 'Valid %', 'Mean acc.', 'Novel %']),
        ]),
        this.lineageBody,
      ]),
    ]);
  }

  update(state: DashboardState): void {
    this.endedBy.hidden = state.endedBy === null;
    setText(this.endedBy, state.endedBy ?? '');
    if (state.ledger === this.ledger && state.cycles === this.stats) return;
    this.ledger = state.ledger;
    this.stats = state.cycles;
    this.renderCosts(state.ledger);
    this.renderLineage(state.ledger, state.cycles);
  }

  private renderCosts(ledger: readonly CycleLedger[]): void {
    const rows = ledger.flatMap((l) => {
      const c = l.cost;
      if (!c) return [];
      const llm = (s: number): string => formatDeviceTime(s, c.llmDevice);
      const device = c.llmDevice === c.evalDevice ? c.llmDevice.toUpperCase() : `LLM ${c.llmDevice.toUpperCase()}, nets ${c.evalDevice.toUpperCase()}`;
      return [
        // data-cycle belongs to the cycles table's rows; these rows say which table they are in.
        h('tr', { dataset: { costCycle: String(l.cycle) } }, [
          h('th', { text: String(l.cycle), attrs: { scope: 'row' } }),
          h('td', { text: device }),
          h('td', { text: llm(c.generation.seconds) }),
          h('td', { text: formatCount(c.generation.tokens) }),
          h('td', { text: `${c.validation.seconds.toFixed(1)} s` }),
          h('td', { text: formatDeviceTime(c.evaluation.deviceSeconds, c.evalDevice) }),
          h('td', { text: llm(c.finetune.seconds) }),
          h('td', { text: formatCount(c.finetune.tokens) }),
          h('td', { text: formatDeviceTime(c.deviceSeconds, c.evalDevice === 'gpu' ? 'gpu' : c.llmDevice) }),
          h('td', { text: formatCount(c.novel40) }),
          h('td', { text: c.deviceSecondsPerNovel40 === null ? '—' : formatDeviceTime(c.deviceSecondsPerNovel40, c.evalDevice === 'gpu' ? 'gpu' : c.llmDevice) }),
        ]),
      ];
    });
    this.costBody.replaceChildren(...rows);
    const t = totalCost(ledger.map((l) => l.cost));
    setText(
      this.summary,
      t.cycles === 0
        ? 'No cycle with a recorded cost yet.'
        : `${t.cycles} cycles: ${formatDeviceTime(t.deviceSeconds, t.device)}, ${formatCount(t.tokensGenerated)} tokens generated, ${formatCount(t.tokensTrained)} trained, ` +
            (t.deviceSecondsPerNovel40 === null ? 'no novel net ≥ 40 % yet' : `${formatDeviceTime(t.deviceSecondsPerNovel40, t.device)} per novel net ≥ 40 %`),
    );
  }

  private renderLineage(ledger: readonly CycleLedger[], stats: readonly CycleStats[]): void {
    const rows = lineageRows(ledger, stats).map((r) =>
      h('tr', { dataset: { lineageCycle: String(r.cycle) } }, [
        h('th', { text: r.adapter ?? `cycle-${r.cycle}`, attrs: { scope: 'row' } }),
        h('td', { text: formatCount(r.trainedOn?.lemur ?? null) }),
        h('td', { text: formatCount(r.trainedOn?.seed ?? null) }),
        h('td', { text: formatCount(r.trainedOn?.selected ?? null) }),
        h('td', { text: formatCount(r.trainedOn?.accepted ?? null) }),
        h('td', { text: formatCount(r.trainedTokens) }),
        h('td', { text: r.loss === null ? '—' : r.loss.toFixed(4) }),
        h('td', { text: String(r.nextCycle) }),
        h('td', { text: signed(r.validPctDelta, ' pt') }),
        h('td', { text: signed(r.meanAccDelta, ' pt') }),
        h('td', { text: signed(r.novelPctDelta, ' pt') }),
      ]),
    );
    this.lineageBody.replaceChildren(...rows);
  }
}
