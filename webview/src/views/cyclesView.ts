/**
 * Cycles: the paper's per-cycle table with Wilson intervals, the paper's own rows as a toggleable reference, and
 * charts of best/mean accuracy and of the valid and >= 40 % shares with their interval bands.
 */
import type { CycleStats } from '../../../src/protocol/messages';
import { Chart, themeChart, themeColours, withAlpha, type ThemeColours } from '../charts';
import { checkbox } from '../components';
import { h, setText } from '../dom';
import { formatCount, formatInterval, formatPercent } from '../format';
import { PAPER_ROWS, PAPER_VALID_SUMMARY } from '../paperReference';

type Point = { x: number; y: number };

export class CyclesView {
  readonly element: HTMLElement;
  private readonly body: HTMLTableSectionElement;
  private readonly summary: HTMLElement;
  private readonly accuracyCanvas: HTMLCanvasElement;
  private readonly shareCanvas: HTMLCanvasElement;
  // Made on the first render, with its data, when the view has its size (the first snapshot arrives with the view
  // shown): a chart made empty in the still hidden page laid out and drew once at 0 x 0, then all over again when
  // its resize observer saw the real size, which was a third of the first render.
  private accuracyChart: Chart<'line', Point[]> | undefined;
  private shareChart: Chart<'line', Point[]> | undefined;
  private cycles: readonly CycleStats[] = [];
  /** The user's choice; null until they make one, and the overlay then shows once the run has a finished cycle. */
  private paperChoice: boolean | null;
  private readonly paperToggle: HTMLElement & { checked: boolean };
  private syncingToggle = false;

  constructor(paperReference: boolean | null, onPaperReference: (on: boolean) => void) {
    this.paperChoice = paperReference;
    this.paperToggle = checkbox('Show the paper’s reported rows', this.paperReference, (on) => {
      if (this.syncingToggle) return; // the toolkit says `change` for a programmatic set too: not the user's choice
      this.paperChoice = on;
      onPaperReference(on);
      this.render();
    }, 'paper-toggle') as HTMLElement & { checked: boolean };
    this.body = h('tbody');
    this.summary = h('p', { className: 'summary' });
    const header = h('tr', {}, [
      h('th', { text: 'Cycle', attrs: { scope: 'col' } }),
      h('th', { text: 'Valid %', attrs: { scope: 'col' } }),
      h('th', { text: 'Best', attrs: { scope: 'col' } }),
      h('th', { text: 'Mean', attrs: { scope: 'col' } }),
      h('th', { text: '≥ 40 %', attrs: { scope: 'col' } }),
      h('th', { text: 'Unique Models', attrs: { scope: 'col' } }),
      h('th', { text: 'Total Train Prompts', attrs: { scope: 'col' } }),
    ]);
    const accuracyCanvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Best and mean accuracy per cycle' }, dataset: { chart: 'accuracy' } });
    const shareCanvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Valid and at-least-40% shares per cycle' }, dataset: { chart: 'share' } });
    this.element = h('section', { className: 'view cycles-view' }, [
      h('div', { className: 'toolbar' }, [this.paperToggle]),
      this.summary,
      h('div', { className: 'chart-row' }, [
        h('div', { className: 'chart-box' }, [accuracyCanvas]),
        h('div', { className: 'chart-box' }, [shareCanvas]),
      ]),
      h('table', { className: 'data-table cycles-table', dataset: { testid: 'cycles-table' } }, [h('thead', {}, [header]), this.body]),
    ]);
    this.accuracyCanvas = accuracyCanvas;
    this.shareCanvas = shareCanvas;
  }

  update(cycles: readonly CycleStats[]): void {
    if (cycles === this.cycles) return;
    this.cycles = cycles;
    this.render();
  }

  /** Re-reads theme colours (VS Code changed theme). */
  restyle(): void {
    this.render();
  }

  /** Whether the paper's 22 cycles show: the user's choice, else only once there is a finished cycle to compare. */
  private get paperReference(): boolean {
    return this.paperChoice ?? this.cycles.length > 0;
  }

  private render(): void {
    if (this.paperToggle.checked !== this.paperReference) {
      this.syncingToggle = true;
      this.paperToggle.checked = this.paperReference;
      this.syncingToggle = false;
    }
    this.renderTable();
    this.renderCharts(themeColours());
    this.renderSummary();
  }

  private renderSummary(): void {
    const generated = this.cycles.reduce((sum, c) => sum + c.generated, 0);
    const valid = this.cycles.reduce((sum, c) => sum + c.valid, 0);
    const ours = generated ? `${this.cycles.length} cycles, ${formatCount(generated)} generated, ${formatPercent((100 * valid) / generated, 1)} valid` : 'No finished cycle yet.';
    const paper = this.paperReference
      ? ` — paper: valid ${PAPER_VALID_SUMMARY.meanPct} % on average over 22 cycles [${PAPER_VALID_SUMMARY.ci[0]} – ${PAPER_VALID_SUMMARY.ci[1]}], peak ${PAPER_VALID_SUMMARY.peakPct} %`
      : '';
    setText(this.summary, ours + paper);
  }

  private renderTable(): void {
    const rows: HTMLTableRowElement[] = [];
    const paperByCycle = new Map(PAPER_ROWS.map((row) => [row.cycle, row]));
    const cycles = new Set(this.cycles.map((c) => c.cycle));
    if (this.paperReference) for (const row of PAPER_ROWS) cycles.add(row.cycle);
    for (const cycle of [...cycles].sort((a, b) => a - b)) {
      const stats = this.cycles.find((c) => c.cycle === cycle);
      if (stats) rows.push(runRow(stats));
      const paper = paperByCycle.get(cycle);
      if (this.paperReference && paper) {
        rows.push(
          h('tr', { className: 'paper-row', dataset: { paperCycle: String(cycle) } }, [
            h('th', { attrs: { scope: 'row' } }, [`${cycle} `, h('span', { className: 'tag', text: 'paper' })]),
            h('td', { text: formatPercent(paper.validPct, 1) }),
            h('td', { text: formatPercent(paper.bestAcc) }),
            h('td', { text: formatPercent(paper.meanAcc) }),
            h('td', { text: formatPercent(paper.atLeast40Pct) }),
            h('td', { text: formatCount(paper.uniqueModels) }),
            h('td', { text: formatCount(paper.totalTrainPrompts) }),
          ]),
        );
      }
    }
    this.body.replaceChildren(...rows);
  }

  private renderCharts(colours: ThemeColours): void {
    const at = (pick: (c: CycleStats) => number | null): Point[] =>
      this.cycles.flatMap((c) => {
        const y = pick(c);
        return y === null ? [] : [{ x: c.cycle, y }];
      });
    const paper = (pick: (row: (typeof PAPER_ROWS)[number]) => number): Point[] =>
      this.paperReference ? PAPER_ROWS.map((row) => ({ x: row.cycle, y: pick(row) })) : [];

    const accuracy = [
      line('Best', at((c) => c.bestAcc), colours.blue),
      line('Mean', at((c) => c.meanAcc), colours.green),
      paperPoints('Paper best', paper((r) => r.bestAcc), colours.blue),
      paperPoints('Paper mean', paper((r) => r.meanAcc), colours.green),
    ];
    const share = [
      ...band('Valid %', at((c) => c.validCI[0]), at((c) => c.validCI[1]), colours.orange),
      line('Valid %', at((c) => c.validPct), colours.orange),
      ...band('≥ 40 %', at((c) => c.atLeast40CI?.[0] ?? null), at((c) => c.atLeast40CI?.[1] ?? null), colours.purple),
      line('≥ 40 %', at((c) => c.atLeast40Pct), colours.purple),
      paperPoints('Paper valid %', paper((r) => r.validPct), colours.orange),
      paperPoints('Paper ≥ 40 %', paper((r) => r.atLeast40Pct), colours.purple),
    ];
    this.accuracyChart = drawChart(this.accuracyChart, this.accuracyCanvas, 'Accuracy (%)', accuracy, colours);
    this.shareChart = drawChart(this.shareChart, this.shareCanvas, 'Share (%)', share, colours);
  }
}

type LineDatasets = Chart<'line', Point[]>['data']['datasets'];

/** Updates `chart` with `datasets` in the theme's colours, or makes it (drawn once, with them) if there is none yet. */
function drawChart(chart: Chart<'line', Point[]> | undefined, canvas: HTMLCanvasElement, yTitle: string, datasets: LineDatasets, colours: ThemeColours): Chart<'line', Point[]> {
  if (!chart) {
    const options = chartOptions(yTitle);
    themeChart({ config: { options } }, colours);
    return new Chart<'line', Point[]>(canvas, { type: 'line', data: { datasets }, options });
  }
  chart.data.datasets = datasets;
  themeChart(chart, colours);
  chart.update('none');
  return chart;
}

function runRow(stats: CycleStats): HTMLTableRowElement {
  const withCI = (value: string, interval: readonly [number, number] | null): HTMLElement =>
    h('td', {}, [value, interval ? h('span', { className: 'ci', text: ` ${formatInterval(interval)}` }) : null]);
  return h('tr', { dataset: { cycle: String(stats.cycle) } }, [
    h('th', { text: String(stats.cycle), attrs: { scope: 'row' } }),
    withCI(formatPercent(stats.validPct, 1), stats.validCI),
    h('td', { text: formatPercent(stats.bestAcc) }),
    h('td', { text: formatPercent(stats.meanAcc) }),
    withCI(formatPercent(stats.atLeast40Pct), stats.atLeast40CI),
    h('td', { text: formatCount(stats.uniqueModels) }),
    h('td', { text: formatCount(stats.totalTrainPrompts) }),
  ]);
}

function line(label: string, data: Point[], colour: string) {
  return { label, data, borderColor: colour, backgroundColor: colour, pointRadius: 2, borderWidth: 2, fill: false as const };
}

function paperPoints(label: string, data: Point[], colour: string) {
  return {
    label,
    data,
    borderColor: colour,
    backgroundColor: 'transparent',
    showLine: false,
    pointStyle: 'rectRot' as const,
    pointRadius: 6,
    pointBorderWidth: 2,
    hidden: data.length === 0,
  };
}

/** An interval band: the lower bound (invisible) then the upper bound filled down to it. */
function band(label: string, low: Point[], high: Point[], colour: string) {
  const common = { borderWidth: 0, pointRadius: 0, pointHitRadius: 0, borderColor: 'transparent' };
  return [
    { ...common, label: `${label} CI low`, data: low, fill: false as const, backgroundColor: 'transparent' },
    { ...common, label: `${label} 95 % CI`, data: high, fill: '-1' as const, backgroundColor: withAlpha(colour, 0.28) },
  ];
}

function chartOptions(yTitle: string) {
  return {
    parsing: false as const,
    normalized: true,
    scales: {
      // Level labels, skipped where they would crowd (22 cycles in a half-width chart), never rotated.
      x: { type: 'linear' as const, title: { display: true, text: 'Cycle' }, ticks: { stepSize: 1, precision: 0, maxRotation: 0, autoSkipPadding: 8 } },
      y: { type: 'linear' as const, title: { display: true, text: yTitle }, suggestedMin: 0, suggestedMax: 100 },
    },
    plugins: {
      legend: {
        labels: {
          boxWidth: 12,
          filter: (item: { text: string }) => !item.text.endsWith('CI low'),
        },
      },
      tooltip: { mode: 'nearest' as const, intersect: false },
    },
  };
}
