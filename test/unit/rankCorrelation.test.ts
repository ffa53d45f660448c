// Spearman's rank correlation and its Fisher-z interval against known values, and the dashboard's fold of re-checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ranks, spearman, summarizeRechecks } from '../../src/protocol/rankCorrelation';
import { DashboardSnapshot, type DashboardEvent } from '../../src/protocol/dashboard';
import { fromEvents, fromSnapshot, recheckSummaryOf, toSnapshot } from '../../src/protocol/dashboardState';

const close = (actual: number | null | undefined, expected: number, digits = 9) =>
  assert.ok(actual !== null && actual !== undefined && Math.abs(actual - expected) < 10 ** -digits, `${actual} != ${expected}`);

test('ties share the mean of their ranks', () => {
  assert.deepEqual(ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4]);
  assert.deepEqual(ranks([3, 1, 2]), [3, 1, 2]);
});

test('spearman matches the textbook IQ / television example (rho = -29/165) and its Fisher-z interval', () => {
  const iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110];
  const tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17];
  const r = spearman(iq, tv);
  assert.equal(r.n, 10);
  close(r.rho, -29 / 165);
  // tanh(atanh(rho) -/+ 1.959964 / sqrt(7))
  close(r.ci?.[0], -0.7251388558041697);
  close(r.ci?.[1], 0.5103442296483449);
});

test('perfect, tied, short and flat inputs', () => {
  const perfect = spearman([1, 2, 3, 4, 5], [2, 4, 8, 16, 32]);
  assert.equal(perfect.rho, 1);
  assert.deepEqual(perfect.ci, [1, 1]);
  close(spearman([1, 2, 2, 3], [1, 3, 2, 4]).rho, 0.9486832980505138); // Pearson on ranks [1,2.5,2.5,4] / [1,3,2,4]
  assert.deepEqual(spearman([1, 2, 3], [3, 2, 1]), { n: 3, rho: -1, ci: null });
  assert.deepEqual(spearman([1], [2]), { n: 1, rho: null, ci: null });
  assert.equal(spearman([1, 2, 3, 4], [5, 5, 5, 5]).rho, null);
  assert.equal(spearman([1, Number.NaN, 3, 4, 5], [1, 2, 3, 4, 5]).n, 4);
  assert.throws(() => spearman([1, 2], [1]), /2 x values for 1 y values/);
});

let seq = 0;
const e = (kind: string, data: Record<string, unknown>): DashboardEvent =>
  ({ type: 'event', seq: ++seq, run: 'r', ts: 1_700_000_000_000 + seq, kind, data }) as DashboardEvent;
const evaluated = (cycle: number, candidate: string, accuracy: number) =>
  e('candidate.evaluated', { cycle, candidate, outcome: 'ok', accuracy, params: 10, trainSeconds: 1, evalSeconds: 1, peakMemoryMB: null, imagesPerSecond: null, message: null });
const rechecked = (cycle: number, candidate: string, seed: number, accuracy: number | null, epochs = 5) =>
  e('candidate.rechecked', { cycle, candidate, recheck: 'rc-1', epochs, seed, outcome: accuracy === null ? 'timeout' : 'ok', accuracy, trainSeconds: 3, message: null });

test('the fold keeps re-checks beside the one-epoch figures, through a snapshot, with the correlation per cycle', () => {
  seq = 0;
  const events = [
    e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 2, candidatesPerCycle: 4, protocol: 'fast', executor: 'local', config: {} }),
    evaluated(1, 'c1-0000', 30), evaluated(1, 'c1-0001', 40), evaluated(1, 'c1-0002', 50), evaluated(1, 'c1-0003', 20),
    evaluated(2, 'c2-0000', 60), evaluated(2, 'c2-0001', 10),
    e('recheck.queued', { recheck: 'rc-1', candidates: ['c1-0000'], epochs: 5, seeds: [0, 1] }),
    rechecked(1, 'c1-0000', 0, 40), rechecked(1, 'c1-0000', 1, 44), // mean 42
    rechecked(1, 'c1-0001', 0, 50), rechecked(1, 'c1-0002', 0, 61), rechecked(1, 'c1-0003', 0, 45),
    rechecked(1, 'c1-0003', 1, null), // a failed seed is left out of the mean
    rechecked(1, 'c1-0003', 0, 10, 1), // a shorter re-check gives way to the longest one
    rechecked(2, 'c2-0000', 0, 70), rechecked(2, 'c2-0001', 0, 20),
  ];
  const state = fromEvents(events);
  assert.equal(state.rechecks.length, 9);
  const summary = recheckSummaryOf(state);
  const c3 = summary.points.find((p) => p.candidate === 'c1-0003');
  assert.deepEqual(c3, { cycle: 1, candidate: 'c1-0003', proxy: 20, rechecked: 45, epochs: 5, seeds: 1 });
  assert.equal(summary.points.find((p) => p.candidate === 'c1-0000')?.rechecked, 42);
  // Cycle 1: proxy 30,40,50,20 -> ranks 2,3,4,1; re-checked 42,50,61,45 -> ranks 1,3,4,2: rho = 1 - 6 * 2 / (4 * 15) = 0.8
  close(summary.perCycle.find((c) => c.cycle === 1)?.correlation.rho, 0.8);
  assert.equal(summary.perCycle.find((c) => c.cycle === 2)?.correlation.rho, 1);
  assert.equal(summary.overall.n, 6);
  assert.ok(summary.overall.ci !== null);

  const again = fromSnapshot(DashboardSnapshot.parse(JSON.parse(JSON.stringify(toSnapshot(state)))));
  assert.deepEqual(again.rechecks, state.rechecks);
  assert.deepEqual(recheckSummaryOf(again), summary);
  // A candidate with no one-epoch accuracy has nothing to compare with.
  assert.equal(summarizeRechecks(state.rechecks, () => null).points.length, 0);
});
