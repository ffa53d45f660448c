/// <reference lib="dom" />
/**
 * The Compare tab in headless Chromium: two runs on two hosts side by side (one line each for the chosen figure,
 * the paper's rows as an optional third series), the per-cycle and totals tables, Choose Runs… asking the host,
 * a fresh choice bringing the tab forward, and run names that are hostile text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { compareRun, type ComparedRun } from '../../src/protocol/comparison';
import { foldEvents } from '../../src/protocol/runFold';
import { PAPER_ROWS } from '../../webview/src/paperReference';
import { EventScript } from '../unit/viewsFixtures';
import { HOSTILE_STRINGS, snapshotOf } from './fixture';
import { chartData, clearPosted, dashboardSuite, hostPost, pickOption, waitForPosted, waitRendered } from './harness';

const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
const dashboard = dashboardSuite();

function run(host: string, id: string, name: string, seed: number, meanAccs: readonly number[], finished: boolean): ComparedRun {
  const script = new EventScript(id);
  script.emit('run.created', {
    name, preset: 'demo', model: 'archloop-demo', cycles: 3, candidatesPerCycle: 6, protocol: 'fast', executor: 'local',
    config: { run: { seed } },
  });
  meanAccs.forEach((meanAcc, i) => {
    script.emit('cycle.started', { cycle: i + 1, candidates: 6, adapter: null });
    script.emit('cycle.finished', { cycle: i + 1, stats: script.stats(i + 1, { meanAcc, bestAcc: meanAcc + 4, validPct: 50 + 10 * i, generated: 6, valid: 3 + i, uniqueModels: i + 1 }) });
  });
  if (finished) script.emit('run.finished', { reason: 'completed', cycles: meanAccs.length });
  return compareRun(host, foldEvents(id, script.events));
}

async function rows(page: Page, testid: string): Promise<string[][]> {
  return page.$$eval(`[data-testid=${testid}] tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent ?? '')));
}

/** The dashboard of a run with one finished cycle, on its Cycles tab. */
async function openWithRun(): Promise<Awaited<ReturnType<typeof dashboard.open>>> {
  const opened = await dashboard.open();
  const script = new EventScript('own');
  script.created(3, 6);
  script.emit('cycle.started', { cycle: 1, candidates: 6, adapter: null });
  script.emit('cycle.finished', { cycle: 1, stats: script.stats(1) });
  await hostPost(opened.page, { type: 'snapshot', state: snapshotOf(script.events) });
  await waitRendered(opened.page, script.events.length);
  return opened;
}

test('two runs on two hosts side by side: a line each, the tables, the paper as a third series, the figure switch', async () => {
  const { page, pageErrors } = await openWithRun();
  const local = run('local', 'run-a', 'demo', 0, [30, 36, 41], true);
  const remote = run('gpu-box', 'run-b', 'demo', 1, [28, 39], false);

  // Before a choice: the tab explains how to pick runs, and its button asks the host.
  await page.click('[data-testid=tab-compare]');
  await page.waitForSelector('[data-testid=compare-empty]:not([hidden])');
  await clearPosted(page);
  await page.click('[data-testid=compare-choose]');
  assert.deepEqual((await waitForPosted(page, 1)).at(-1), { type: 'compare' });

  await hostPost(page, { type: 'comparison', runs: [local, remote], reveal: true });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=compare-totals] tbody tr').length === 2);
  const totals = await rows(page, 'compare-totals');
  assert.deepEqual(totals.map((row) => row.slice(0, 7)), [
    ['demo @ local', 'local', 'archloop-demo', 'demo · 0', 'finished: completed', '3 / 3', '18'],
    ['demo @ gpu-box', 'gpu-box', 'archloop-demo', 'demo · 1', 'running', '2 / 3', '12'],
  ]);
  assert.deepEqual(totals.map((row) => row.slice(7)), [
    ['66.7 %', '45.00 %', '41.00 %', '6'],
    ['58.3 %', '43.00 %', '39.00 %', '3'],
  ], 'valid pooled over cycles (12/18, 7/12), best over cycles, the last cycle mean, unique models summed');
  assert.deepEqual(await rows(page, 'compare-cycles'), [
    ['1', '30.00 %', '28.00 %'],
    ['2', '36.00 %', '39.00 %'],
    ['3', '41.00 %', '—'],
  ]);
  let lines = await chartData(page, 'compare');
  assert.deepEqual(lines.map((d) => d.label), ['demo @ local', 'demo @ gpu-box']);
  assert.deepEqual(lines[1]?.data, [{ x: 1, y: 28 }, { x: 2, y: 39 }]);

  // The paper's rows as a third series, and a column of the table.
  await page.click('[data-testid=compare-paper]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=compare-cycles] thead th').length === 4);
  lines = await chartData(page, 'compare');
  assert.deepEqual(lines.map((d) => d.label), ['demo @ local', 'demo @ gpu-box', 'Paper (reported)']);
  assert.deepEqual(lines[2]?.data, PAPER_ROWS.map((row) => ({ x: row.cycle, y: row.meanAcc })));
  const withPaper = await rows(page, 'compare-cycles');
  assert.equal(withPaper.length, 3 + PAPER_ROWS.length - 1, 'cycles 1..3 and the paper cycles 5..22 (cycle 1 shared)');
  assert.deepEqual(withPaper[0], ['1', '30.00 %', '28.00 %', `${PAPER_ROWS[0]?.meanAcc.toFixed(2)} %`]);

  // Another figure: the lines, the table header and the axis follow it.
  await pickOption(page, 'compare-metric', 'uniqueModels');
  await page.waitForFunction(() => document.querySelector('[data-testid=compare-cycles] thead th')?.textContent === 'Cycle · Unique models');
  lines = await chartData(page, 'compare');
  assert.deepEqual(lines[0]?.data, [{ x: 1, y: 1 }, { x: 2, y: 2 }, { x: 3, y: 3 }]);
  assert.deepEqual((await rows(page, 'compare-cycles'))[0]?.slice(0, 3), ['1', '1', '1']);
  mkdirSync(ARTIFACTS, { recursive: true });
  await pickOption(page, 'compare-metric', 'meanAcc');
  await page.waitForFunction(() => document.querySelector('[data-testid=compare-cycles] thead th')?.textContent === 'Cycle · Mean accuracy');
  await page.screenshot({ path: `${ARTIFACTS}/compare-two-runs.png`, fullPage: true });
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('a fresh choice brings the Compare tab forward; an update does not; hostile run names stay text', async () => {
  const { page, pageErrors, dialogs } = await openWithRun();
  const hostile = HOSTILE_STRINGS.find((s) => s.includes('<img')) ?? '<img src=x onerror=alert(1)>';
  const a = run('local', 'run-a', hostile, 0, [30], true);
  const b = run('local', 'run-b', 'demo', 1, [31], true);
  await hostPost(page, { type: 'comparison', runs: [a, b], reveal: false });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=compare-totals] tbody tr').length === 2);
  assert.equal(await page.getAttribute('[data-testid=tab-cycles]', 'aria-selected'), 'true', 'an update leaves the user where they are');
  await hostPost(page, { type: 'comparison', runs: [b, a], reveal: true });
  await page.waitForFunction(() => document.querySelector('[data-testid=tab-compare]')?.getAttribute('aria-selected') === 'true');
  assert.equal(await page.isVisible('[data-testid=compare-view]'), true);
  assert.deepEqual((await rows(page, 'compare-totals')).map((row) => row[0]), ['demo', hostile]);
  assert.equal(await page.locator('[data-testid=compare-totals] img').count(), 0, 'the name is text, not markup');
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.deepEqual(dialogs, []);
  assert.deepEqual(pageErrors, []);
  await page.close();
});
