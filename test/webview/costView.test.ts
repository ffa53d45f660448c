/// <reference lib="dom" />
/**
 * The cost and lineage tables under the cycle table, in headless Chromium: each finished cycle's device time per
 * stage, tokens and time per novel net ≥ 40 %, the budget that ended the run, and per fine-tune the pairs it was
 * trained on by origin with how the next cycle moved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { CycleCost, CycleStats, Event } from '../../src/protocol/messages';
import { snapshotOf } from './fixture';
import { hostPost, waitRendered, dashboardSuite } from './harness';

const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
const dashboard = dashboardSuite();

function stats(cycle: number, validPct: number, meanAcc: number): CycleStats {
  return {
    cycle, generated: 10, valid: 7, validPct, validCI: [40, 90], trained: 6, bestAcc: 55, meanAcc, atLeast40Pct: 50,
    atLeast40CI: [20, 80], uniqueModels: 3, totalTrainPrompts: 100, failures: {}, stageSeconds: {},
  };
}

function cost(cycle: number): CycleCost {
  return {
    llmDevice: 'cpu', evalDevice: 'cpu', generation: { seconds: 30, tokens: 4000 }, validation: { seconds: 2 },
    novelty: { seconds: 1, checked: 10, novel: cycle === 1 ? 8 : 6 }, evaluation: { seconds: 40, deviceSeconds: 60, evaluated: 6 },
    finetune: { seconds: 90, tokens: 20_000, pairs: 100 }, deviceSeconds: 180, tokens: 24_000, novel40: 3, deviceSecondsPerNovel40: 60,
  };
}

function events(): Event[] {
  const run = 'cost-run';
  let seq = 0;
  const e = (kind: string, data: Record<string, unknown>): Event => ({ type: 'event', seq: ++seq, run, ts: 1_700_000_000_000 + seq, kind, data }) as Event;
  const out = [e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 3, candidatesPerCycle: 10, protocol: 'fast', executor: 'local', config: {} })];
  for (const cycle of [1, 2]) {
    out.push(
      e('cycle.started', { cycle, candidates: 10, adapter: cycle === 1 ? null : 'cycle-1' }),
      e('finetune.done', { cycle, adapter: `cycle-${cycle}`, steps: 5, loss: 0.75, seconds: 90, tokens: 20_000, pairsByOrigin: { lemur: 80, seed: 12, selected: 6 * cycle, accepted: 2 } }),
      e('cycle.finished', { cycle, stats: stats(cycle, cycle === 1 ? 60 : 70, cycle === 1 ? 40 : 42.5), cost: cost(cycle) }),
    );
  }
  out.push(e('run.finished', { reason: 'budget', cycles: 2, detail: 'budget: 0.1 CPU-hours reached after 0.10 h' }));
  return out;
}

test('the cycles view shows each cycle cost, the budget that ended the run and the lineage table', async () => {
  const all = events();
  const { page, pageErrors } = await dashboard.open({ state: { view: 'cycles', paperReference: false, noveltyCycle: null, selectedKey: null, query: { cycle: null, status: 'any', verdict: 'any', text: '', sortKey: 'id', sortDirection: 'asc' } } });
  await hostPost(page, { type: 'snapshot', state: snapshotOf(all) });
  await waitRendered(page, all.at(-1)?.seq ?? 0);
  const cells = (selector: string) => page.$$eval(selector, (rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent ?? '')));
  assert.deepEqual(await cells('[data-testid=cost-table] tbody tr[data-cost-cycle]'), [
    ['1', 'CPU', '30.0 CPU-s', '4,000', '2.0 s', '1.0 CPU-min', '1.5 CPU-min', '20,000', '3.0 CPU-min', '3', '1.0 CPU-min'],
    ['2', 'CPU', '30.0 CPU-s', '4,000', '2.0 s', '1.0 CPU-min', '1.5 CPU-min', '20,000', '3.0 CPU-min', '3', '1.0 CPU-min'],
  ]);
  assert.equal(await page.textContent('[data-testid=cost-summary]'), '2 cycles: 6.0 CPU-min, 8,000 tokens generated, 40,000 trained, 1.0 CPU-min per novel net ≥ 40 %');
  assert.equal(await page.textContent('[data-testid=ended-by]'), 'budget: 0.1 CPU-hours reached after 0.10 h');
  assert.deepEqual(await cells('[data-testid=lineage-table] tbody tr[data-lineage-cycle]'), [
    ['cycle-1', '80', '12', '6', '2', '20,000', '0.7500', '2', '+10.0 pt', '+2.5 pt', '−20.0 pt'],
    ['cycle-2', '80', '12', '12', '2', '20,000', '0.7500', '3', '—', '—', '—'],
  ]);
  assert.deepEqual(
    await page.$$eval('tr[data-cost-cycle], tr[data-lineage-cycle]', (rows) => rows.map((row) => [row.getAttribute('data-cost-cycle') ?? row.getAttribute('data-lineage-cycle'), row.hasAttribute('data-cycle')])),
    [['1', false], ['2', false], ['1', false], ['2', false]],
    'cost and lineage rows carry their own cycle attribute: data-cycle marks the cycles table rows only',
  );
  assert.deepEqual(pageErrors, []);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/cost-and-lineage.png`, fullPage: true });
  await page.close();
});
