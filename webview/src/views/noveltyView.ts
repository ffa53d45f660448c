/**
 * Novelty: per cycle, the histogram of each candidate's highest Jaccard with the threshold marked, and accuracy
 * against novelty (hover names the candidate; a click asks the host to open it).
 */
import type { CandidateAction } from '../../../src/protocol/dashboard';
import { Chart, themeChart, themeColours, thresholdLine, withAlpha } from '../charts';
import { dropdown, type Dropdown } from '../components';
import { h, setText } from '../dom';
import { formatJaccard, formatPercent } from '../format';
import { accuracyVsNovelty, jaccardHistogram, type HistogramBin, type ScatterPoint } from '../novelty';
import type { DashboardState } from '../../../src/protocol/dashboardState';

export class NoveltyView {
  readonly element: HTMLElement;
  private readonly cyclePicker: Dropdown;
  private readonly caption: HTMLElement;
  private readonly histogram: Chart<'bar', HistogramBin[]>;
  private readonly scatter: Chart<'scatter', ScatterPoint[]>;
  private state: DashboardState | null = null;
  private cycle: number | null;
  private threshold = 0.85;

  constructor(cycle: number | null, onCycle: (cycle: number | null) => void, post: (action: CandidateAction) => void) {
    this.cycle = cycle;
    this.cyclePicker = dropdown('Cycle', (value) => {
      this.cycle = value === 'all' ? null : Number(value);
      onCycle(this.cycle);
      this.render();
    }, 'novelty-cycle');
    this.caption = h('p', { className: 'summary' });
    const histogramCanvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Histogram of highest Jaccard similarity' }, dataset: { chart: 'histogram' } });
    const scatterCanvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Accuracy against highest Jaccard similarity' }, dataset: { chart: 'scatter' } });
    this.element = h('section', { className: 'view novelty-view' }, [
      h('div', { className: 'toolbar' }, [h('label', { text: 'Cycle' }), this.cyclePicker.element]),
      this.caption,
      h('div', { className: 'chart-row' }, [
        h('div', { className: 'chart-box' }, [histogramCanvas]),
        h('div', { className: 'chart-box' }, [scatterCanvas]),
      ]),
    ]);
    this.histogram = new Chart<'bar', HistogramBin[]>(histogramCanvas, {
      type: 'bar',
      data: { datasets: [] },
      options: {
        parsing: false,
        scales: {
          x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'Highest Jaccard to corpus and run' } },
          y: { type: 'linear', beginAtZero: true, title: { display: true, text: 'Candidates' }, ticks: { precision: 0 } },
        },
        plugins: { legend: { display: false } },
      },
      plugins: [thresholdLine(() => this.threshold, () => themeColours().red)],
    });
    this.scatter = new Chart<'scatter', ScatterPoint[]>(scatterCanvas, {
      type: 'scatter',
      data: { datasets: [] },
      options: {
        parsing: false,
        scales: {
          x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'Highest Jaccard (lower is more novel)' } },
          // Percent: an empty chart shows 0–100, not Chart.js's default 0–1.
          y: { type: 'linear', suggestedMin: 0, suggestedMax: 100, title: { display: true, text: 'Accuracy (%)' } },
        },
        plugins: {
          legend: { display: true },
          tooltip: {
            callbacks: {
              label: (item) => {
                const point = item.raw as ScatterPoint;
                return `${point.id} (cycle ${point.cycle}): accuracy ${formatPercent(point.y)}, Jaccard ${formatJaccard(point.x)}`;
              },
            },
          },
        },
        onClick: (event, _elements, chart) => {
          const hits = chart.getElementsAtEventForMode(event as unknown as Event, 'nearest', { intersect: true }, false);
          const hit = hits[0];
          if (!hit) return;
          const point = chart.data.datasets[hit.datasetIndex]?.data[hit.index] as ScatterPoint | undefined;
          if (point) post({ type: 'open', cycle: point.cycle, candidate: point.id });
        },
      },
    });
  }

  update(state: DashboardState): void {
    if (this.state && state.candidates === this.state.candidates && state.run === this.state.run) return;
    this.state = state;
    this.render();
  }

  restyle(): void {
    this.render();
  }

  private render(): void {
    const state = this.state;
    if (!state) return;
    const colours = themeColours();
    this.threshold = state.run?.noveltyThreshold ?? 0.85;
    const cycles = [...new Set(state.candidates.rows.map((row) => row.cycle))].sort((a, b) => a - b);
    this.cyclePicker.setChoices(
      [{ value: 'all', label: 'All cycles' }, ...cycles.map((c) => ({ value: String(c), label: `Cycle ${c}` }))],
      this.cycle === null ? 'all' : String(this.cycle),
    );
    const rows = state.candidates.rows;
    const bins = jaccardHistogram(rows, this.cycle);
    this.histogram.data.datasets = [
      {
        label: 'Candidates',
        data: bins,
        backgroundColor: bins.map((bin) => (bin.x >= this.threshold ? withAlpha(colours.red, 0.6) : withAlpha(colours.blue, 0.6))),
        borderColor: colours.blue,
        barPercentage: 1,
        categoryPercentage: 1,
        grouped: false,
      },
    ];
    const points = accuracyVsNovelty(rows, this.cycle);
    const novel = points.filter((p) => p.x < this.threshold);
    const duplicates = points.filter((p) => p.x >= this.threshold);
    this.scatter.data.datasets = [
      { label: 'Novel', data: novel, backgroundColor: withAlpha(colours.blue, 0.7), pointRadius: 3, pointHoverRadius: 6 },
      { label: 'At or above threshold', data: duplicates, backgroundColor: withAlpha(colours.red, 0.7), pointRadius: 3, pointHoverRadius: 6 },
    ];
    themeChart(this.histogram, colours);
    themeChart(this.scatter, colours);
    this.histogram.update('none');
    this.scatter.update('none');
    const counted = bins.reduce((sum, bin) => sum + bin.y, 0);
    const above = rows.filter((r) => r.maxJaccard !== null && r.maxJaccard >= this.threshold && (this.cycle === null || r.cycle === this.cycle)).length;
    setText(this.caption, `${counted} candidates checked for novelty, ${above} at or above the threshold ${this.threshold.toFixed(2)}; ${points.length} trained. Click a point to open it.`);
  }
}
