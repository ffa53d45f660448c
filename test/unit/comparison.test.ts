// Runs side by side: the comparison row read off a run's fold, the store that keeps the chosen runs current, the
// dashboard controller's messages for them, and the run setting the dashboard reads from run.created's config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRun, seriesLabels, totalsOf, type ComparedRun } from '../../src/protocol/comparison';
import { HostMessage, type ComparisonMessage } from '../../src/protocol/dashboard';
import { fromEvents } from '../../src/protocol/dashboardState';
import { toDashboardEvent } from '../../src/protocol/dashboard';
import type { Event } from '../../src/protocol/messages';
import { applyEvent, emptyRunView, foldEvents, type RunView } from '../../src/protocol/runFold';
import { RunComparison, type ComparableRun } from '../../src/session/runComparison';
import { DashboardController, type ComparisonSource } from '../../src/ui/dashboardController';
import { EventScript } from './viewsFixtures';

/** A run of `cycles` finished cycles, seed `seed`, as a script of wire events (each checked by the zod schema). */
function finishedRun(run: string, seed: number, meanAccs: readonly number[]): EventScript {
  const script = new EventScript(run);
  script.emit('run.created', {
    name: 'demo', preset: 'demo', model: 'tiny', cycles: meanAccs.length, candidatesPerCycle: 4, protocol: 'fast', executor: 'local',
    config: { run: { seed }, novelty: { threshold: 0.9 } },
  });
  meanAccs.forEach((meanAcc, i) => {
    script.emit('cycle.started', { cycle: i + 1, candidates: 4, adapter: null });
    script.emit('cycle.finished', { cycle: i + 1, stats: script.stats(i + 1, { meanAcc, bestAcc: meanAcc + 5, generated: 4, valid: 3 - (i % 2) }) });
  });
  script.emit('run.finished', { reason: 'completed', cycles: meanAccs.length });
  return script;
}

/** A RunSession's surface for the comparison: a view folded before listeners hear the event, as RunSession does. */
class LiveRun implements ComparableRun {
  view: RunView;
  private readonly listeners = new Set<{ onEvent?(event: Event): void }>();
  constructor(readonly host: string, readonly run: string, events: readonly Event[] = []) {
    this.view = foldEvents(run, events);
  }
  push(event: Event): void {
    this.view = applyEvent(this.view, event);
    for (const listener of this.listeners) listener.onEvent?.(event);
  }
  subscribe(listener: { onEvent?(event: Event): void }): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get subscribers(): number {
    return this.listeners.size;
  }
}

test('a run compares by its finished cycles, seed, phase and what ended it; totals pool over cycles', () => {
  const script = finishedRun('r1', 7, [20, 30, 35]);
  const row = compareRun('gpu-a', foldEvents('r1', script.events));
  assert.equal(row.key, 'gpu-a/r1');
  assert.equal(row.seed, 7);
  assert.equal(row.phase, 'finished');
  assert.equal(row.endedBy, 'completed');
  assert.deepEqual(row.cycles.map((c) => [c.cycle, c.meanAcc]), [[1, 20], [2, 30], [3, 35]]);
  const totals = totalsOf(row);
  assert.equal(totals.cycles, 3);
  assert.equal(totals.generated, 12);
  assert.equal(totals.validPct, (100 * (3 + 2 + 3)) / 12, 'valid over generated, pooled');
  assert.equal(totals.bestAcc, 40);
  assert.equal(totals.lastMeanAcc, 35);
  // A run in flight: only finished cycles, the phase as the fold says.
  const partial = compareRun('gpu-a', foldEvents('r1', script.events.slice(0, 3)));
  assert.equal(partial.phase, 'running');
  assert.equal(partial.endedBy, null);
  assert.equal(partial.cycles.length, 1);
  assert.equal(compareRun('h', emptyRunView('r3')).name, 'r3', 'a run whose run.created was not seen is named by its id');
});

test('the dashboard reads the novelty threshold where the backend writes it (config.novelty.threshold)', () => {
  const state = fromEvents(finishedRun('r1', 0, [20]).events.map(toDashboardEvent));
  assert.equal(state.run?.noveltyThreshold, 0.9);
});

test('legend labels stay distinct: by host, then seed, then run id', () => {
  const base = compareRun('a', foldEvents('r1', finishedRun('r1', 1, [20]).events));
  const at = (host: string, run: string, seed: number | null): ComparedRun => ({ ...base, key: `${host}/${run}`, host, run, seed });
  assert.deepEqual(seriesLabels([at('a', 'r1', 1), at('b', 'r1', 1)]), ['demo @ a', 'demo @ b']);
  assert.deepEqual(seriesLabels([at('a', 'r1', 1), at('a', 'r2', 2)]), ['demo seed 1', 'demo seed 2']);
  assert.deepEqual(seriesLabels([at('a', 'r1', 1), at('a', 'r2', 1)]), ['demo (r1)', 'demo (r2)']);
  assert.deepEqual(seriesLabels([at('a', 'r1', 1), { ...at('a', 'r2', 1), name: 'other' }]), ['demo', 'other']);
});

test('the comparison follows its runs: a finished cycle updates it, a candidate event does not, and one choice reveals once', () => {
  const a = new LiveRun('local', 'r1', finishedRun('r1', 0, [20, 30]).events);
  const growing = finishedRun('r2', 1, [25]);
  const b = new LiveRun('gpu', 'r2', growing.events.slice(0, -1)); // running: run.finished not seen yet
  const comparison = new RunComparison();
  let changes = 0;
  comparison.onDidChange(() => changes++);
  assert.throws(() => comparison.set([a]), /two or more/);
  assert.throws(() => comparison.set([a, a]), /chosen twice/);
  comparison.set([a, b]);
  assert.equal(changes, 1);
  assert.equal(comparison.takeReveal(), true);
  assert.equal(comparison.takeReveal(), false, 'the reveal is taken once');
  assert.deepEqual(comparison.runs().map((r) => [r.key, r.phase, r.cycles.length]), [['local/r1', 'finished', 2], ['gpu/r2', 'running', 1]]);

  b.push(growing.emit('cycle.started', { cycle: 2, candidates: 4, adapter: null }));
  growing.candidate(2, 'c2-1', 0, { accuracy: 44 });
  for (const event of growing.events.slice(-5)) b.push(event);
  assert.equal(changes, 1, 'candidate and cycle.started events leave the comparison alone');
  b.push(growing.emit('cycle.finished', { cycle: 2, stats: growing.stats(2, { meanAcc: 44 }) }));
  assert.equal(changes, 2);
  assert.deepEqual(comparison.runs()[1]?.cycles.map((c) => c.meanAcc), [25, 44]);
  b.push(growing.emit('run.finished', { reason: 'budget', cycles: 2, detail: 'GPU-hour budget of 1 h reached' }));
  assert.equal(comparison.runs()[1]?.phase, 'stopped');
  assert.equal(comparison.runs()[1]?.endedBy, 'GPU-hour budget of 1 h reached');

  comparison.set([b, a]);
  assert.deepEqual(comparison.runs().map((r) => r.key), ['gpu/r2', 'local/r1'], 'the chosen order is kept');
  assert.equal(a.subscribers, 1, 'a new choice drops the old subscriptions');
  comparison.dispose();
  assert.equal(a.subscribers + b.subscribers, 0);
});

test('the dashboard gets the comparison after its snapshot and on every change; Choose Runs asks the host', async () => {
  const a = new LiveRun('local', 'r1', finishedRun('r1', 0, [20]).events);
  const b = new LiveRun('gpu', 'r2', finishedRun('r2', 1, [22, 24]).events);
  const comparison = new RunComparison();
  let chosen = 0;
  const source: ComparisonSource = {
    runs: () => comparison.runs(),
    onDidChange: (listener) => comparison.onDidChange(listener),
    choose: async () => {
      chosen++;
      comparison.set([a, b]);
    },
    takeReveal: () => comparison.takeReveal(),
  };
  const sent: HostMessage[] = [];
  const noop = async (): Promise<void> => undefined;
  const controller = new DashboardController(
    (message) => sent.push(HostMessage.parse(message)), // every message must pass the webview's own schema
    { snapshot: () => [], subscribe: () => () => undefined },
    { open: noop, diff: noop, verdict: noop, annotate: noop },
    { warn: (message) => assert.fail(message) },
    source,
  );
  const comparisons = (): ComparisonMessage[] => sent.filter((m): m is ComparisonMessage => m.type === 'comparison');
  await controller.receive({ type: 'ready' });
  assert.deepEqual(sent.map((m) => m.type), ['snapshot', 'comparison']);
  assert.deepEqual(comparisons()[0], { type: 'comparison', runs: [], reveal: false });
  await controller.receive({ type: 'compare' });
  assert.equal(chosen, 1);
  assert.equal(comparisons().length, 2);
  assert.equal(comparisons()[1]?.reveal, true, 'a fresh choice brings the Compare tab forward');
  assert.deepEqual(comparisons()[1]?.runs.map((r) => r.cycles.length), [1, 2]);
  controller.dispose();
  comparison.set([b, a]);
  assert.equal(comparisons().length, 2, 'a disposed dashboard hears nothing more');
});
