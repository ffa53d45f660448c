/// <reference lib="dom" />
/**
 * The re-check plot under the novelty charts, in headless Chromium: each re-checked candidate's one-epoch accuracy
 * beside its longer evaluation (mean over seeds), the scatter of one against the other, and Spearman's rank
 * correlation per cycle and overall with its interval. Hidden while a run has no re-check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { EventScript } from '../unit/viewsFixtures';
import { snapshotOf } from './fixture';
import { chartData, dashboardSuite, hostPost, waitRendered } from './harness';

const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
const dashboard = dashboardSuite();
const uiState = { view: 'novelty', paperReference: false, noveltyCycle: null, selectedKey: null, query: { cycle: null, status: 'any', verdict: 'any', text: '', sortKey: 'id', sortDirection: 'asc' } };

/** Cycle 1: five nets re-checked for 5 epochs under two seeds; cycle 2: two nets, too few to rank with an interval. */
function script(withRechecks: boolean): EventScript {
  const s = new EventScript('recheck-run');
  s.created(2, 5);
  const proxies: Record<number, number[]> = { 1: [20, 30, 40, 50, 60], 2: [35, 45] };
  // Re-checked means (over the two seeds): ranks 1 3 2 4 5 in cycle 1, so Spearman's rho is 1 - 6*2/(5*24) = 0.90.
  const rechecked: Record<number, number[]> = { 1: [25, 45, 35, 60, 70], 2: [50, 40] };
  for (const cycle of [1, 2]) {
    s.emit('cycle.started', { cycle, candidates: 5, adapter: cycle === 1 ? null : 'cycle-1' });
    proxies[cycle]?.forEach((accuracy, i) => s.candidate(cycle, `c${cycle}-000${i}`, i, { accuracy }));
  }
  if (!withRechecks) return s;
  for (const cycle of [1, 2]) {
    const ids = proxies[cycle]?.map((_, i) => `c${cycle}-000${i}`) ?? [];
    s.emit('recheck.queued', { recheck: `rc-${cycle}`, candidates: ids, epochs: 5, seeds: [0, 1] });
    ids.forEach((candidate, i) => {
      const mean = rechecked[cycle]?.[i] ?? 0;
      for (const [seed, accuracy] of [[0, mean - 1], [1, mean + 1]] as const) {
        s.emit('candidate.rechecked', { cycle, candidate, recheck: `rc-${cycle}`, epochs: 5, seed, outcome: 'ok', accuracy, trainSeconds: 30, message: null });
      }
    });
  }
  return s;
}

test('a run without re-checks shows no re-check section', async () => {
  const { page } = await dashboard.open({ state: uiState });
  const events = script(false).events;
  await hostPost(page, { type: 'snapshot', state: snapshotOf(events) });
  await waitRendered(page, events.length);
  assert.equal(await page.isVisible('[data-testid=recheck-view]'), false);
  await page.close();
});

test('re-checked accuracy beside the one-epoch proxy, plotted, with Spearman per cycle and overall', async () => {
  const { page, pageErrors } = await dashboard.open({ state: uiState });
  const events = script(true).events;
  await hostPost(page, { type: 'snapshot', state: snapshotOf(events) });
  await waitRendered(page, events.length);
  await page.waitForSelector('[data-testid=recheck-view]:not([hidden])');
  const rows = await page.$$eval('[data-testid=recheck-table] tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
  assert.equal(rows.length, 7);
  assert.deepEqual(rows.find((row) => row[0] === 'c1-0001'), ['c1-0001', '1', '30.00 %', '45.00 %', '5', '2']);
  const caption = (await page.textContent('[data-testid=recheck-summary]')) ?? '';
  // Fisher z: atanh(0.9) ± 1.96/sqrt(5 - 3) → [0.09, 0.99]; overall, ranks differ by 2 in four pairs: 1 - 96/336 = 0.71.
  assert.match(caption, /cycle 1: ρ = 0\.90 \[0\.09 – 0\.99\], n = 5/);
  assert.match(caption, /cycle 2: ρ = -1\.00 \(interval needs n ≥ 4\), n = 2/);
  assert.match(caption, /^Spearman overall: ρ = 0\.71 \[-0\.08 – 0\.95\], n = 7/);
  const series = await chartData(page, 'recheck');
  assert.deepEqual(series.map((s) => s.label), ['Cycle 1', 'Cycle 2']);
  assert.deepEqual(series[0]?.data, [{ x: 20, y: 25 }, { x: 30, y: 45 }, { x: 40, y: 35 }, { x: 50, y: 60 }, { x: 60, y: 70 }]);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.locator('[data-testid=recheck-view]').screenshot({ path: `${ARTIFACTS}/recheck-plot.png` });
  assert.deepEqual(pageErrors, []);
  await page.close();
});
