/// <reference lib="dom" />
/**
 * A near-duplicate explained in headless Chromium: selecting it asks the host for its code and its nearest
 * neighbour's, and the detail pane lists the shared 7-token shingles with their share, marks them in both codes, and
 * shows the model's raw reply beside the extracted code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Event } from '../../src/protocol/messages';
import { snapshotOf } from './fixture';
import { hostPost, posted, waitForPosted, waitRendered, dashboardSuite } from './harness';

const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
const dashboard = dashboardSuite();

const NEAREST = `import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(32 * 16 * 16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))
`;
const CODE = NEAREST.replace('nn.MaxPool2d(2))', 'nn.BatchNorm2d(32), nn.MaxPool2d(2))');
const RAW = `Here is a small CNN for CIFAR-10:\n\n\`\`\`python\n${CODE}\`\`\`\n`;

function events(): Event[] {
  const run = 'dup-run';
  let seq = 0;
  const e = (kind: string, data: Record<string, unknown>): Event => ({ type: 'event', seq: ++seq, run, ts: 1_700_000_000_000 + seq, kind, data }) as Event;
  return [
    e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 2, candidatesPerCycle: 2, protocol: 'fast', executor: 'local', config: {} }),
    e('cycle.started', { cycle: 1, candidates: 1, adapter: null }),
    e('candidate.started', { cycle: 1, candidate: 'c1-0000', index: 0 }),
    e('candidate.generated', { cycle: 1, candidate: 'c1-0000', code: CODE, raw: RAW, attempts: 3, tokens: 140, seconds: 2 }),
    e('candidate.validated', { cycle: 1, candidate: 'c1-0000', ok: true, outcome: 'ok', message: null, line: null, params: 52_000 }),
    e('candidate.novelty', { cycle: 1, candidate: 'c1-0000', maxJaccard: 0.875, nearest: 'c0-0004', novel: false, signature: 'sig' }),
  ];
}

test('a near-duplicate lists and marks the shingles it shares with its nearest neighbour, and shows its raw reply', async () => {
  const all = events();
  const { page, pageErrors } = await dashboard.open({
    state: { view: 'candidates', paperReference: false, noveltyCycle: null, selectedKey: null, query: { cycle: null, status: 'any', verdict: 'any', text: '', sortKey: 'id', sortDirection: 'asc' } },
  });
  await hostPost(page, { type: 'snapshot', state: snapshotOf(all) });
  await waitRendered(page, all.at(-1)?.seq ?? 0);
  await page.click('.grid-body .grid-row[data-key="1/c1-0000"] .col-id');
  // Closed, the pane asks for no code (arrow keys pass many rows); opened, it asks for the selected one's.
  assert.deepEqual((await posted(page)).map((m) => m.type), ['ready']);
  await page.click('[data-testid=code-explanation] summary');
  const sent = await waitForPosted(page, 2);
  assert.deepEqual(sent.at(-1), { type: 'code', cycle: 1, candidate: 'c1-0000', nearest: 'c0-0004' });

  await hostPost(page, { type: 'candidateCode', cycle: 1, candidate: 'c1-0000', code: CODE, raw: RAW, nearest: 'c0-0004', nearestCode: NEAREST, message: null });
  await page.waitForSelector('[data-testid=shared-summary]');
  const summary = (await page.textContent('[data-testid=shared-summary]')) ?? '';
  assert.match(summary, /^\d+ shared 7-token shingles with c0-0004: exact Jaccard 0\.\d\d/);
  assert.match(summary, /\d+ % of this candidate's \d+ shingles, \d+ % of c0-0004's \d+/);
  const runs = await page.$$eval('[data-testid=shared-runs] li', (items) => items.map((item) => item.textContent ?? ''));
  assert.ok(runs.length >= 2, `shared runs: ${JSON.stringify(runs)}`);
  assert.match(runs[0] ?? '', /^import torch .* \d+ %$/);
  // The inserted BatchNorm2d is not shared: it is never marked, while shared code is.
  const marked = await page.$$eval('[data-testid=code-candidate] mark', (marks) => marks.map((mark) => mark.textContent ?? ''));
  assert.ok(marked.some((text) => text.includes('class Net(nn.Module)')));
  assert.ok(!marked.some((text) => text.includes('BatchNorm2d')));
  assert.ok((await page.$$('[data-testid=code-nearest] mark')).length > 0);
  assert.equal(await page.textContent('[data-testid=code-raw]'), RAW);
  assert.deepEqual(pageErrors, []);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/near-duplicate.png`, fullPage: true });
  await page.close();
});

test('a late answer for another candidate is dropped, and a missing neighbour is said in words', async () => {
  const all = events();
  const { page } = await dashboard.open({
    state: { view: 'candidates', paperReference: false, noveltyCycle: null, selectedKey: '1/c1-0000', query: { cycle: null, status: 'any', verdict: 'any', text: '', sortKey: 'id', sortDirection: 'asc' } },
  });
  await hostPost(page, { type: 'snapshot', state: snapshotOf(all) });
  await waitRendered(page, all.at(-1)?.seq ?? 0);
  await page.click('[data-testid=code-explanation] summary');
  await waitForPosted(page, 2);
  await hostPost(page, { type: 'candidateCode', cycle: 1, candidate: 'c9-0009', code: 'x = 1\n', raw: null, nearest: 'c0-0004', nearestCode: 'x = 1\n', message: null });
  await hostPost(page, { type: 'candidateCode', cycle: 1, candidate: 'c1-0000', code: CODE, raw: null, nearest: 'c0-0004', nearestCode: null, message: 'c0-0004: its code is not available here' });
  await page.waitForSelector('[data-testid=code-message]');
  assert.equal(await page.textContent('[data-testid=code-message]'), 'c0-0004: its code is not available here');
  assert.equal(await page.textContent('[data-testid=code-candidate]'), CODE);
  assert.equal(await page.$('[data-testid=shared-summary]'), null);
  assert.equal(await page.$('[data-testid=code-raw]'), null);
  await page.close();
});
