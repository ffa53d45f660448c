/**
 * The dashboard app: receives host messages (validated), folds them into the state with the pure reducer, and
 * redraws what changed once per animation frame, so a burst of events costs one DOM update, not one per event.
 */
import { describeInvalid, parseHostMessage, type ActionResultMessage, type CandidateAction } from '../../src/protocol/dashboard';
import { applyThemeDefaults, themeColours } from './charts';
import { progressRing, tabs } from './components';
import { h, setText } from './dom';
import { restoreUiState, type UiState, type ViewId } from './uiState';
import { applyEvents, applyStream, fromSnapshot, initialState, type DashboardState } from '../../src/protocol/dashboardState';
import type { HostChannel } from './vscodeApi';
import { CandidatesView } from './views/candidatesView';
import { CompareView } from './views/compareView';
import { CostView } from './views/costView';
import { CyclesView } from './views/cyclesView';
import { LiveView } from './views/liveView';
import { NoveltyView } from './views/noveltyView';
import { RecheckView } from './views/recheckView';

export class DashboardApp {
  private state: DashboardState = initialState();
  private ui: UiState;
  private readonly header: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly loading: HTMLElement;
  private readonly main: HTMLElement;
  private readonly cycles: CyclesView;
  private readonly costs = new CostView();
  private readonly novelty: NoveltyView;
  private readonly recheck: RecheckView;
  private readonly candidates: CandidatesView;
  private readonly live: LiveView;
  private readonly compare: CompareView;
  private readonly views: HTMLElement;
  private frame = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly channel: HostChannel,
  ) {
    this.ui = restoreUiState(channel.getState());
    applyThemeDefaults(themeColours());
    const post = (action: CandidateAction): void => channel.post(action);
    this.cycles = new CyclesView(this.ui.paperReference, (on) => this.saveUi({ paperReference: on }));
    this.novelty = new NoveltyView(this.ui.noveltyCycle, (cycle) => this.saveUi({ noveltyCycle: cycle }), post);
    this.recheck = new RecheckView(post);
    this.candidates = new CandidatesView({
      query: this.ui.query,
      selectedKey: this.ui.selectedKey,
      onQuery: (query) => this.saveUi({ query }),
      onSelect: (selectedKey) => this.saveUi({ selectedKey }),
      post,
      requestCode: (request) => channel.post(request),
    });
    this.live = new LiveView();
    this.compare = new CompareView({
      metric: this.ui.compareMetric,
      paper: this.ui.comparePaper,
      onMetric: (compareMetric) => this.saveUi({ compareMetric }),
      onPaper: (comparePaper) => this.saveUi({ comparePaper }),
      choose: () => channel.post({ type: 'compare' }),
    });
    this.header = h('header', { className: 'run-header', dataset: { testid: 'run-header' } });
    this.notice = h('p', { className: 'notice', attrs: { role: 'status', 'aria-live': 'polite' }, dataset: { testid: 'notice' } });
    this.loading = h('div', { className: 'loading', dataset: { testid: 'loading' } }, [progressRing(), h('span', { text: 'Waiting for the run’s snapshot…' })]);
    const views = (this.views = tabs(
      [
        { id: 'cycles', label: 'Cycles', panel: h('div', {}, [this.cycles.element, this.costs.element]) },
        { id: 'novelty', label: 'Novelty', panel: h('div', {}, [this.novelty.element, this.recheck.element]) },
        { id: 'candidates', label: 'Candidates', panel: this.candidates.element },
        { id: 'live', label: 'Live', panel: this.live.element },
        { id: 'compare', label: 'Compare', panel: this.compare.element },
      ],
      this.ui.view,
      (id) => this.showView(id as ViewId),
    ));
    this.main = h('main', { className: 'dashboard', attrs: { hidden: '' } }, [this.header, this.notice, views]);
    root.replaceChildren(this.loading, this.main);
    root.dataset.state = 'loading';
    this.candidates.setVisible(this.ui.view === 'candidates');

    window.addEventListener('message', (event: MessageEvent) => this.receive(event.data));
    // VS Code swaps the theme by changing body classes and the --vscode-* variables in place.
    new MutationObserver(() => this.restyle()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
    channel.post({ type: 'ready' });
  }

  /** Handles one message from the host; an invalid one is reported to the host and dropped. */
  receive(raw: unknown): void {
    const parsed = parseHostMessage(raw);
    if (!parsed.success) {
      this.channel.post({ type: 'webviewError', message: `invalid host message dropped: ${describeInvalid(parsed.error)}` });
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'snapshot':
        this.state = fromSnapshot(message.state);
        break;
      case 'events':
        if (!this.state.loaded) return; // the snapshot that follows `ready` contains these
        this.state = applyEvents(this.state, message.events);
        break;
      case 'stream':
        if (!this.state.loaded) return;
        this.state = applyStream(this.state, message.stream);
        break;
      case 'actionResult':
        this.showActionResult(message);
        return;
      case 'candidateCode':
        this.candidates.showCode(message);
        return;
      case 'comparison':
        // Not part of the run's state: drawn at once, shown when the user just chose the runs.
        this.compare.update(message.runs);
        if (message.reveal && this.ui.view !== 'compare') {
          this.views.setAttribute('activeid', 'tab-compare'); // the toolkit emits no `change` for this: show it here
          this.showView('compare');
        }
        return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const state = this.state;
    if (!state.loaded) return;
    if (this.root.dataset.state !== 'ready') {
      this.loading.hidden = true;
      this.main.hidden = false;
      this.root.dataset.state = 'ready';
    }
    const run = state.run;
    setText(this.header, run ? `${run.name} · ${run.model} · ${run.protocol} protocol · ${state.candidates.rows.length.toLocaleString('en-US')} candidates · event #${state.lastSeq}` : `No run yet · event #${state.lastSeq}`);
    // Hidden views skip the work; they catch up from the state when shown.
    switch (this.ui.view) {
      case 'cycles':
        this.cycles.update(state.cycles);
        this.costs.update(state);
        break;
      case 'novelty':
        this.novelty.update(state);
        this.recheck.update(state);
        break;
      case 'live':
        this.live.update(state);
        break;
      case 'candidates':
      case 'compare':
        break;
    }
    this.candidates.update(state.candidates);
    this.root.dataset.renderedSeq = String(state.lastSeq);
  }

  private showView(view: ViewId): void {
    this.saveUi({ view });
    this.candidates.setVisible(view === 'candidates');
    this.render();
  }

  private restyle(): void {
    applyThemeDefaults(themeColours());
    this.cycles.restyle();
    this.novelty.restyle();
    this.recheck.restyle();
    this.live.restyle();
    this.compare.restyle();
  }

  private showActionResult(result: ActionResultMessage): void {
    const text = result.ok ? `${result.action} ${result.candidate}: done` : `${result.action} ${result.candidate} failed: ${result.message ?? 'unknown error'}`;
    setText(this.notice, text);
    this.notice.classList.toggle('error', !result.ok);
  }

  private saveUi(change: Partial<UiState>): void {
    this.ui = { ...this.ui, ...change };
    this.channel.setState(this.ui);
  }
}
