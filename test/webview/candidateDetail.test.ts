/// <reference lib="dom" />
/**
 * The candidate detail pane in headless Chromium: the selected candidate's accuracy names its data and protocol, its
 * novelty verdict is in words (a near-duplicate let through after its retries says so), with its selection rule,
 * attempts, time and memory; rows still being written offer no Accept or Reject.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Event } from '../../src/protocol/messages';
import { snapshotOf } from './fixture';
import { clearPosted, hostPost, posted, waitRendered, dashboardSuite } from './harness';

const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
const dashboard = dashboardSuite();

function events(): Event[] {
  const run = 'detail-run';
  let seq = 0;
  const e = (kind: string, data: Record<string, unknown>): Event => ({ type: 'event', seq: ++seq, run, ts: 1_700_000_000_000 + seq, kind, data }) as Event;
  return [
    e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 2, candidatesPerCycle: 2, protocol: 'fast', executor: 'local', config: {} }),
    e('cycle.started', { cycle: 1, candidates: 2, adapter: null }),
    e('candidate.started', { cycle: 1, candidate: 'c1-0000', index: 0 }),
    e('candidate.generated', { cycle: 1, candidate: 'c1-0000', code: 'class Net: pass\n', attempts: 3, tokens: 40, seconds: 2 }),
    e('candidate.validated', { cycle: 1, candidate: 'c1-0000', ok: true, outcome: 'ok', message: null, line: null, params: 52_000 }),
    e('candidate.novelty', {
      cycle: 1, candidate: 'c1-0000', maxJaccard: 0.912, nearest: 'seed:resnet', novel: false, signature: 'sig',
      // A width-changed copy: tokens and the layer graph call it a duplicate, the exact AST structure does not.
      measures: [
        { measure: 'minhash', score: 0.912, nearest: 'seed:resnet', duplicate: true, gate: true },
        { measure: 'structure', score: 0, nearest: null, duplicate: false, gate: false },
        { measure: 'graph', score: 0.974, nearest: 'seed:resnet', duplicate: true, gate: false },
      ],
      explanation: 'near-duplicate by tokens (J=0.91 with seed:resnet); new structure; layer graph 0.97 similar to seed:resnet (>= 0.95): duplicate by the gate (minhash) [minhash]',
    }),
    e('candidate.evaluated', {
      cycle: 1, candidate: 'c1-0000', outcome: 'ok', accuracy: 41.23, params: 52_000, trainSeconds: 12.5, evalSeconds: 1.5,
      peakMemoryMB: 310, imagesPerSecond: 800, message: null, data: 'synthetic', protocol: 'fast', epochs: 1,
    }),
    e('cycle.selected', { cycle: 1, selected: ['c1-0000'], reasons: { 'c1-0000': 'fallback' }, totalTrainPrompts: 1 }),
    e('candidate.started', { cycle: 1, candidate: 'c1-0001', index: 1 }),
  ];
}

test('the detail pane explains the selected candidate; a generating row offers no verdict', async () => {
  const all = events();
  const { page } = await dashboard.open({ state: { view: 'candidates', paperReference: false, noveltyCycle: null, selectedKey: null, query: { cycle: null, status: 'any', verdict: 'any', text: '', sortKey: 'id', sortDirection: 'asc' } } });
  await hostPost(page, { type: 'snapshot', state: snapshotOf(all) });
  await waitRendered(page, all.at(-1)?.seq ?? 0);
  await page.click('.grid-body .grid-row[data-key="1/c1-0000"] .col-id');
  await page.waitForSelector('[data-testid=candidate-facts] dd[data-fact=accuracy]');
  const fact = (name: string) => page.textContent(`[data-testid=candidate-facts] dd[data-fact=${name}]`);
  assert.equal(await fact('accuracy'), '41.2 % (synthetic, fast protocol, 1 epoch)');
  assert.equal(await fact('novelty'), 'near-duplicate of seed:resnet at J=0.91, let through after 3 attempts');
  assert.equal(await fact('selection'), 'selected by the fallback threshold (too few reached the main one)');
  assert.equal(await fact('attempts'), '3');
  assert.equal(await fact('train-time'), '12.5 s');
  assert.equal(await fact('peak-memory'), '310 MiB');
  // Novelty three ways, side by side, with the sentence that says which measure decides.
  assert.deepEqual(
    await page.$$eval('[data-testid=novelty-measures] tbody tr', (rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent ?? ''))),
    [
      ['token MinHash-Jaccard', '0.912', 'seed:resnet', 'duplicate', 'decides'],
      ['AST structure (exact match)', '0.000', '—', 'novel', 'shown only'],
      ['layer graph (WL similarity)', '0.974', 'seed:resnet', 'duplicate', 'shown only'],
    ],
  );
  assert.match((await page.textContent('[data-testid=novelty-explanation]')) ?? '', /duplicate by the gate \(minhash\) \[minhash\]$/);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/candidate-detail.png`, fullPage: true });

  const pending = '.grid-body .grid-row[data-key="1/c1-0001"]';
  assert.equal(await page.isVisible(`${pending} [data-action=accept]`), false);
  assert.equal(await page.isVisible(`${pending} [data-action=reject]`), false);
  assert.equal(await page.isVisible('.grid-body .grid-row[data-key="1/c1-0000"] [data-action=accept]'), true);
  await clearPosted(page);
  await page.click(`${pending} .col-id`);
  await page.keyboard.press('a');
  await page.keyboard.press('Enter'); // a message the webview does post, so the check below waits on something real
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
  assert.deepEqual((await posted(page)).map((m) => m.type), ['open']);
  await page.close();
});
