/**
 * Re-checks, under the novelty charts: each re-checked candidate's one-epoch accuracy beside its longer evaluation
 * (mean over seeds at its longest re-check), the two plotted against each other, and Spearman's rank correlation per
 * cycle and overall with its 95 % interval: does the one-epoch proxy rank nets as longer training does?
 */
import type { CandidateAction } from '../../../src/protocol/dashboard';
import { recheckSummaryOf, type DashboardState } from '../../../src/protocol/dashboardState';
import type { Correlation, RecheckPoint, RecheckSummary } from '../../../src/protocol/rankCorrelation';
import { Chart, themeChart, themeColours, withAlpha } from '../charts';
import { h, setText } from '../dom';
import { formatPercent } from '../format';

interface Point {
  readonly x: number;
  readonly y: number;
  readonly point: RecheckPoint;
}

export function describeCorrelation(c: Correlation): string {
  if (c.rho === null) return c.n < 2 ? `too few pairs (n = ${c.n})` : `no spread to rank (n = ${c.n})`;
  const ci = c.ci ? ` [${c.ci[0].toFixed(2)} – ${c.ci[1].toFixed(2)}]` : ' (interval needs n ≥ 4)';
  return `ρ = ${c.rho.toFixed(2)}${ci}, n = ${c.n}`;
}

export class RecheckView {
  readonly element: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly chart: Chart<'scatter', Point[]>;
  private rechecks: DashboardState['rechecks'] | null = null;
  private summary: RecheckSummary | null = null;

  constructor(post: (action: CandidateAction) => void) {
    this.caption = h('p', { className: 'summary', dataset: { testid: 'recheck-summary' } });
    this.body = h('tbody');
    const canvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Re-checked accuracy against one-epoch accuracy' }, dataset: { chart: 'recheck' } });
    this.element = h('section', { className: 'recheck-view', dataset: { testid: 'recheck-view' } }, [
      h('h3', { text: 'Re-checks: one-epoch proxy against longer training' }),
      this.caption,
      h('div', { className: 'chart-row' }, [h('div', { className: 'chart-box' }, [canvas])]),
      h('table', { className: 'data-table recheck-table', dataset: { testid: 'recheck-table' } }, [
        h('thead', {}, [h('tr', {}, ['Candidate', 'Cycle', 'One epoch', 'Re-checked', 'Epochs', 'Seeds'].map((t) => h('th', { text: t, attrs: { scope: 'col' } })))]),
        this.body,
      ]),
    ]);
    this.chart = new Chart<'scatter', Point[]>(canvas, {
      type: 'scatter',
      data: { datasets: [] },
      options: {
        parsing: false,
        scales: {
          x: { type: 'linear', suggestedMin: 0, suggestedMax: 100, title: { display: true, text: 'One-epoch accuracy (%)' } },
          y: { type: 'linear', suggestedMin: 0, suggestedMax: 100, title: { display: true, text: 'Re-checked accuracy (%)' } },
        },
        plugins: {
          legend: { display: true },
          tooltip: {
            callbacks: {
              label: (item) => {
                const p = (item.raw as Point).point;
                return `${p.candidate} (cycle ${p.cycle}): ${formatPercent(p.proxy)} → ${formatPercent(p.rechecked)} after ${p.epochs} epochs`;
              },
            },
          },
        },
        onClick: (event, _elements, chart) => {
          const hit = chart.getElementsAtEventForMode(event as unknown as Event, 'nearest', { intersect: true }, false)[0];
          const raw = hit ? (chart.data.datasets[hit.datasetIndex]?.data[hit.index] as Point | undefined) : undefined;
          if (raw) post({ type: 'open', cycle: raw.point.cycle, candidate: raw.point.candidate });
        },
      },
    });
  }

  update(state: DashboardState): void {
    if (state.rechecks === this.rechecks && this.summary) return;
    this.rechecks = state.rechecks;
    this.summary = recheckSummaryOf(state);
    this.element.hidden = state.rechecks.length === 0;
    this.render();
  }

  restyle(): void {
    this.render();
  }

  private render(): void {
    const summary = this.summary;
    if (!summary) return;
    const perCycle = summary.perCycle.map((c) => `cycle ${c.cycle}: ${describeCorrelation(c.correlation)}`).join(' · ');
    setText(this.caption, `Spearman overall: ${describeCorrelation(summary.overall)}${perCycle ? ` — ${perCycle}` : ''}`);
    this.body.replaceChildren(
      ...summary.points.map((p) =>
        h('tr', {}, [p.candidate, String(p.cycle), formatPercent(p.proxy), formatPercent(p.rechecked), String(p.epochs), String(p.seeds)].map((t) => h('td', { text: t }))),
      ),
    );
    const colours = themeColours();
    const palette = [colours.blue, colours.orange, colours.green, colours.purple, colours.yellow, colours.red];
    this.chart.data.datasets = summary.perCycle.map((c, i) => {
      const colour = palette[i % palette.length] ?? colours.blue;
      return {
        label: `Cycle ${c.cycle}`,
        data: summary.points.filter((p) => p.cycle === c.cycle).map((p) => ({ x: p.proxy, y: p.rechecked, point: p })),
        backgroundColor: withAlpha(colour, 0.7),
        borderColor: colour,
        pointRadius: 4,
      };
    });
    themeChart(this.chart, colours);
    this.chart.update();
  }
}
