/**
 * Compare: two or more runs (any hosts) side by side: one line per run for the chosen per-cycle figure, the paper's
 * reported rows as an optional extra series, a table of that figure per cycle and run, and each run's totals.
 * The runs come whole in the host's `comparison` message; this view only draws them.
 */
import { COMPARE_METRICS, seriesLabels, totalsOf, type CompareMetric, type ComparedRun } from '../../../src/protocol/comparison';
import type { CycleStats } from '../../../src/protocol/messages';
import { Chart, themeChart, themeColours, type ThemeColours } from '../charts';
import { button, checkbox, dropdown, type Dropdown } from '../components';
import { h, setText } from '../dom';
import { formatCount, formatPercent } from '../format';
import { PAPER_ROWS, type PaperRow } from '../paperReference';

type Point = { x: number; y: number };

export interface CompareViewOptions {
  readonly metric: CompareMetric;
  readonly paper: boolean;
  readonly onMetric: (metric: CompareMetric) => void;
  readonly onPaper: (on: boolean) => void;
  /** Asks the host to let the user choose the runs (the palette's Compare Runs…). */
  readonly choose: () => void;
}

export class CompareView {
  readonly element: HTMLElement;
  private runs: readonly ComparedRun[] = [];
  private metric: CompareMetric;
  private paper: boolean;
  private readonly empty: HTMLElement;
  private readonly content: HTMLElement;
  private readonly metricPicker: Dropdown;
  private readonly canvas: HTMLCanvasElement;
  private chart: Chart<'line', Point[]> | undefined;
  private readonly cycleHead: HTMLTableRowElement;
  private readonly cycleBody: HTMLTableSectionElement;
  private readonly totalsBody: HTMLTableSectionElement;

  constructor(private readonly options: CompareViewOptions) {
    this.metric = options.metric;
    this.paper = options.paper;
    this.metricPicker = dropdown('Figure to compare', (value) => {
      const metric = COMPARE_METRICS.find((m) => m.id === value)?.id;
      if (!metric || metric === this.metric) return;
      this.metric = metric;
      options.onMetric(metric);
      this.render();
    }, 'compare-metric');
    const paperToggle = checkbox('Show the paper’s reported rows', this.paper, (on) => {
      this.paper = on;
      options.onPaper(on);
      this.render();
    }, 'compare-paper');
    this.empty = h('p', { className: 'empty', dataset: { testid: 'compare-empty' } });
    this.canvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'The chosen figure per cycle, one line per run' }, dataset: { chart: 'compare' } });
    this.cycleHead = h('tr');
    this.cycleBody = h('tbody');
    this.totalsBody = h('tbody');
    const totalsHead = h('tr', {}, ['Run', 'Host', 'Model', 'Preset · seed', 'State', 'Cycles', 'Generated', 'Valid %', 'Best', 'Last mean', 'Unique models'].map((text) => h('th', { text, attrs: { scope: 'col' } })));
    this.content = h('div', {}, [
      h('div', { className: 'chart-row' }, [h('div', { className: 'chart-box' }, [this.canvas])]),
      h('table', { className: 'data-table compare-totals', dataset: { testid: 'compare-totals' } }, [h('thead', {}, [totalsHead]), this.totalsBody]),
      h('table', { className: 'data-table compare-cycles', dataset: { testid: 'compare-cycles' } }, [h('thead', {}, [this.cycleHead]), this.cycleBody]),
    ]);
    this.element = h('section', { className: 'view compare-view', dataset: { testid: 'compare-view' } }, [
      h('div', { className: 'toolbar' }, [
        button('Choose Runs…', () => options.choose(), { appearance: 'primary', title: 'Pick two or more runs on any connected host', testId: 'compare-choose' }),
        this.metricPicker.element,
        paperToggle,
      ]),
      this.empty,
      this.content,
    ]);
    this.render();
  }

  update(runs: readonly ComparedRun[]): void {
    if (runs === this.runs) return;
    this.runs = runs;
    this.render();
  }

  restyle(): void {
    this.render();
  }

  private render(): void {
    this.metricPicker.setChoices(COMPARE_METRICS.map((m) => ({ value: m.id, label: m.label })), this.metric);
    const enough = this.runs.length >= 2;
    this.empty.hidden = enough;
    this.content.hidden = !enough;
    setText(this.empty, 'No runs to compare yet. Choose two or more runs, on this host or others, with Choose Runs… (or ArchLoop: Compare Runs… in the palette).');
    if (!enough) return;
    const labels = seriesLabels(this.runs);
    this.renderTotals(labels);
    this.renderCycles(labels);
    this.renderChart(labels, themeColours());
  }

  private get definition() {
    return COMPARE_METRICS.find((m) => m.id === this.metric) ?? COMPARE_METRICS[0];
  }

  private format(value: number | null): string {
    return this.definition.percent ? formatPercent(value) : formatCount(value);
  }

  private renderTotals(labels: readonly string[]): void {
    this.totalsBody.replaceChildren(
      ...this.runs.map((run, i) => {
        const totals = totalsOf(run);
        const planned = run.plannedCycles === null ? '' : ` / ${run.plannedCycles}`;
        return h('tr', { dataset: { run: run.key } }, [
          h('th', { text: labels[i] ?? run.name, attrs: { scope: 'row' } }),
          h('td', { text: run.host }),
          h('td', { text: run.model }),
          h('td', { text: `${run.preset ?? '—'} · ${run.seed ?? '—'}` }),
          h('td', { text: run.endedBy ? `${run.phase}: ${run.endedBy}` : run.phase }),
          h('td', { text: `${totals.cycles}${planned}` }),
          h('td', { text: formatCount(totals.generated) }),
          h('td', { text: formatPercent(totals.validPct, 1) }),
          h('td', { text: formatPercent(totals.bestAcc) }),
          h('td', { text: formatPercent(totals.lastMeanAcc) }),
          h('td', { text: formatCount(totals.uniqueModels) }),
        ]);
      }),
    );
  }

  private renderCycles(labels: readonly string[]): void {
    const metric = this.metric;
    const paperByCycle = new Map(PAPER_ROWS.map((row) => [row.cycle, row]));
    const cycles = new Set(this.runs.flatMap((run) => run.cycles.map((c) => c.cycle)));
    if (this.paper) for (const row of PAPER_ROWS) cycles.add(row.cycle);
    this.cycleHead.replaceChildren(
      h('th', { text: `Cycle · ${this.definition.label}`, attrs: { scope: 'col' } }),
      ...labels.map((label) => h('th', { text: label, attrs: { scope: 'col' } })),
      ...(this.paper ? [h('th', { text: 'Paper', attrs: { scope: 'col' } })] : []),
    );
    this.cycleBody.replaceChildren(
      ...[...cycles]
        .sort((a, b) => a - b)
        .map((cycle) => {
          const paper = paperByCycle.get(cycle);
          return h('tr', { dataset: { cycle: String(cycle) } }, [
            h('th', { text: String(cycle), attrs: { scope: 'row' } }),
            ...this.runs.map((run) => h('td', { text: this.format(valueOf(run.cycles.find((c) => c.cycle === cycle), metric)) })),
            ...(this.paper ? [h('td', { className: 'paper-cell', text: paper ? this.format(paper[metric]) : '' })] : []),
          ]);
        }),
    );
  }

  private renderChart(labels: readonly string[], colours: ThemeColours): void {
    const palette = [colours.blue, colours.orange, colours.green, colours.purple, colours.red, colours.yellow];
    const metric = this.metric;
    const datasets: Chart<'line', Point[]>['data']['datasets'] = this.runs.map((run, i) => ({
      label: labels[i] ?? run.name,
      data: run.cycles.flatMap((c) => {
        const y = valueOf(c, metric);
        return y === null ? [] : [{ x: c.cycle, y }];
      }),
      borderColor: palette[i % palette.length],
      backgroundColor: palette[i % palette.length],
      // Past six runs the colours repeat: a dash pattern keeps the lines apart.
      borderDash: i >= palette.length ? [6, 4] : [],
      borderWidth: 2,
      pointRadius: 3,
      fill: false,
    }));
    if (this.paper) {
      datasets.push({
        label: 'Paper (reported)',
        data: PAPER_ROWS.map((row: PaperRow) => ({ x: row.cycle, y: row[metric] })),
        borderColor: colours.foreground,
        backgroundColor: 'transparent',
        showLine: false,
        pointStyle: 'rectRot',
        pointRadius: 6,
        pointBorderWidth: 2,
      });
    }
    const yTitle = this.definition.percent ? `${this.definition.label} (%)` : this.definition.label;
    if (!this.chart) {
      const options = chartOptions(yTitle, this.definition.percent);
      themeChart({ config: { options } }, colours);
      this.chart = new Chart<'line', Point[]>(this.canvas, { type: 'line', data: { datasets }, options });
      return;
    }
    this.chart.data.datasets = datasets;
    this.chart.options = chartOptions(yTitle, this.definition.percent);
    themeChart(this.chart, colours);
    this.chart.update('none');
  }
}

function valueOf(stats: CycleStats | undefined, metric: CompareMetric): number | null {
  return stats ? stats[metric] : null;
}

function chartOptions(yTitle: string, percent: boolean) {
  return {
    parsing: false as const,
    normalized: true,
    scales: {
      x: { type: 'linear' as const, title: { display: true, text: 'Cycle' }, ticks: { stepSize: 1, precision: 0, maxRotation: 0, autoSkipPadding: 8 } },
      y: { type: 'linear' as const, title: { display: true, text: yTitle }, suggestedMin: 0, ...(percent ? { suggestedMax: 100 } : {}) },
    },
    plugins: {
      legend: { labels: { boxWidth: 12 } },
      tooltip: { mode: 'nearest' as const, intersect: false },
    },
  };
}
