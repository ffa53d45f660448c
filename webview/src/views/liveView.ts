/**
 * Live: the current stage and progress of the running cycle (generated x/N, validated, novelty-checked, evaluated,
 * fine-tune step and loss curve) and the code being streamed. Updates touch only the text and bars that changed,
 * and the loss chart gets appended points, never a rebuild.
 */
import { Chart, themeChart, themeColours, withAlpha } from '../charts';
import { h, setText } from '../dom';
import { formatSeconds } from '../format';
import type { DashboardState, LiveState, RunError } from '../../../src/protocol/dashboardState';
import { elapsedMs } from '../../../src/protocol/runFold';

/** What a held run is doing, in words: the stage line says it after the stage the run stopped at. */
const HOLD_TEXT = { none: '', paused: ' · paused: waits before its next step until resumed', stopping: ' · stopping after its current step' } as const;

interface Meter {
  readonly element: HTMLElement;
  readonly bar: HTMLElement;
  readonly value: HTMLElement;
}

function meter(label: string, testId: string): Meter {
  const bar = h('div', { className: 'meter-fill' });
  const value = h('span', { className: 'meter-value', dataset: { testid: testId } });
  const element = h('div', { className: 'meter' }, [
    h('span', { className: 'meter-label', text: label }),
    h('div', { className: 'meter-track', attrs: { role: 'progressbar', 'aria-label': label } }, [bar]),
    value,
  ]);
  return { element, bar, value };
}

function setMeter(m: Meter, done: number, total: number, text: string): void {
  const share = total > 0 ? Math.min(1, done / total) : 0;
  m.bar.style.width = `${(share * 100).toFixed(1)}%`;
  m.element.querySelector('[role=progressbar]')?.setAttribute('aria-valuenow', String(Math.round(share * 100)));
  setText(m.value, text);
}

export class LiveView {
  readonly element: HTMLElement;
  private readonly stage: HTMLElement;
  private readonly generated = meter('Generated', 'live-generated');
  private readonly validated = meter('Validated', 'live-validated');
  private readonly novelty = meter('Novelty-checked', 'live-novelty');
  private readonly evaluated = meter('Evaluated', 'live-evaluated');
  private readonly finetune = meter('Fine-tune', 'live-finetune');
  private readonly streamTitle: HTMLElement;
  private readonly streamTail: HTMLElement;
  private readonly errors: HTMLElement;
  private readonly lossChart: Chart<'line', { x: number; y: number }[]>;
  private live: LiveState | null = null;
  private shownErrors: readonly RunError[] = [];
  private plottedCurve: LiveState['lossCurve'] | null = null;
  private plottedHistory: LiveState['lossHistory'] | null = null;

  constructor() {
    this.stage = h('p', { className: 'stage', dataset: { testid: 'live-stage' } });
    this.streamTitle = h('p', { className: 'summary' });
    this.streamTail = h('pre', { className: 'stream-tail', dataset: { testid: 'live-stream' } });
    this.errors = h('ul', { className: 'errors' });
    const lossCanvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Fine-tune loss' }, dataset: { chart: 'loss' } });
    this.element = h('section', { className: 'view live-view' }, [
      this.stage,
      h('div', { className: 'meters' }, [this.generated.element, this.validated.element, this.novelty.element, this.evaluated.element, this.finetune.element]),
      h('div', { className: 'chart-row' }, [
        h('div', { className: 'chart-box' }, [lossCanvas]),
        h('div', { className: 'stream-box' }, [this.streamTitle, this.streamTail]),
      ]),
      this.errors,
    ]);
    const colours = themeColours();
    this.lossChart = new Chart<'line', { x: number; y: number }[]>(lossCanvas, {
      type: 'line',
      data: { datasets: [{ label: 'Fine-tune loss', data: [], borderColor: colours.yellow, backgroundColor: colours.yellow, pointRadius: 0, borderWidth: 2 }] },
      options: {
        parsing: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'Step' } },
          y: { type: 'linear', title: { display: true, text: 'Loss' } },
        },
      },
    });
  }

  update(state: DashboardState): void {
    if (state.errors !== this.shownErrors) this.renderErrors(state.errors);
    if (state.live === this.live) return;
    const live = state.live;
    this.live = live;
    const planned = live.planned || state.run?.candidatesPerCycle || 0;
    // The clock is the run's running time as the events say (paused time left out), read when the view redraws.
    const clock = live.activeMs > 0 || live.activeSince !== null ? ` · running for ${formatSeconds(elapsedMs(live, Date.now()) / 1000)}` : '';
    const where = live.cycle === null ? `Stage: ${live.stage}` : `Cycle ${live.cycle}${state.run ? ` of ${state.run.cycles}` : ''} — stage: ${live.stage}`;
    setText(this.stage, `${where}${HOLD_TEXT[live.hold]}${clock}`);
    this.stage.dataset.hold = live.hold;
    setMeter(this.generated, live.generated, planned, `${live.generated} / ${planned}`);
    setMeter(this.validated, live.validated, planned, `${live.validated} (${live.validOk} valid)`);
    setMeter(this.novelty, live.noveltyChecked, Math.max(live.validOk, 1), `${live.noveltyChecked}`);
    setMeter(this.evaluated, live.evaluated, Math.max(live.noveltyChecked, 1), `${live.evaluated}`);
    const loss = live.finetuneLoss === null ? '' : `, loss ${live.finetuneLoss.toFixed(4)}`;
    const eta = live.etaSeconds ? `, ETA ${formatSeconds(live.etaSeconds)}` : '';
    setMeter(this.finetune, live.finetuneStep, live.finetuneTotal, `${live.finetuneStep} / ${live.finetuneTotal}${loss}${eta}`);
    this.renderLoss(live.lossCurve);
    this.renderLossHistory(live.lossHistory);
    if (live.streaming) {
      setText(this.streamTitle, `Generating ${live.streaming.candidate}: ${live.streaming.chars.toLocaleString('en-US')} characters`);
      // Keeps the newest code in view, as the live tab does, unless the reader scrolled up to look at something.
      const tail = this.streamTail;
      const following = tail.scrollHeight - tail.scrollTop - tail.clientHeight < 24;
      setText(tail, live.streaming.tail);
      if (following) tail.scrollTop = tail.scrollHeight;
    } else {
      setText(this.streamTitle, 'No candidate streaming.');
      setText(this.streamTail, '');
    }
  }

  restyle(): void {
    const colours = themeColours();
    const dataset = this.lossChart.data.datasets[0];
    if (dataset) {
      dataset.borderColor = colours.yellow;
      dataset.backgroundColor = colours.yellow;
    }
    themeChart(this.lossChart, colours);
    this.lossChart.update('none');
    this.plottedHistory = null; // earlier cycles' colours come from the theme too
    if (this.live) this.renderLossHistory(this.live.lossHistory);
  }

  /** Earlier cycles' fine-tune losses, faded, after the current curve (dataset 0, which grows in place). */
  private renderLossHistory(history: LiveState['lossHistory']): void {
    if (history === this.plottedHistory) return;
    this.plottedHistory = history;
    const current = this.lossChart.data.datasets[0];
    if (!current) return;
    const colours = themeColours();
    this.lossChart.data.datasets = [
      current,
      ...history.map((h, i) => {
        // Newer cycles darker: the trend across fine-tunes reads from faint to strong.
        const colour = withAlpha(colours.yellow, 0.15 + (0.45 * (i + 1)) / history.length);
        return { label: `Cycle ${h.cycle}`, data: h.points.map((p) => ({ x: p.step, y: p.loss })), borderColor: colour, backgroundColor: colour, pointRadius: 0, borderWidth: 1 };
      }),
    ];
    this.lossChart.update('none');
  }

  /** Appends new loss points (the reducer only ever appends, or restarts the curve at a new cycle). */
  private renderLoss(curve: LiveState['lossCurve']): void {
    if (curve === this.plottedCurve) return;
    const dataset = this.lossChart.data.datasets[0];
    if (!dataset) return;
    const data = dataset.data as { x: number; y: number }[];
    const previous = this.plottedCurve;
    const continues = previous !== null && curve.length >= previous.length && previous.length === data.length && (previous.length === 0 || curve[previous.length - 1] === previous[previous.length - 1]);
    if (continues) {
      for (let i = previous.length; i < curve.length; i++) data.push({ x: curve[i]!.step, y: curve[i]!.loss });
    } else {
      dataset.data = curve.map((p) => ({ x: p.step, y: p.loss }));
    }
    this.plottedCurve = curve;
    this.lossChart.update('none');
  }

  private renderErrors(errors: readonly RunError[]): void {
    this.shownErrors = errors;
    this.errors.replaceChildren(
      ...errors.slice(-10).map((e) => h('li', { className: e.fatal ? 'fatal' : '', text: `#${e.seq}${e.stage ? ` [${e.stage}]` : ''}: ${e.message}` })),
    );
  }
}
