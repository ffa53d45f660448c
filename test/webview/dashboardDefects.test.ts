/// <reference lib="dom" />
/**
 * Dashboard defects a user saw, each checked in headless Chromium: the tab underline follows the active tab (also
 * when the dashboard comes back with another tab remembered), the Annotation column is never squeezed to a few
 * letters, and the paper's 22-cycle overlay stays off until the run has finished a cycle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { toDashboardEvent } from '../../src/protocol/dashboard';
import type { Event } from '../../src/protocol/messages';
import { DEFAULT_QUERY } from '../../webview/src/candidateQuery';
import { makeFixture, snapshotOf } from './fixture';
import { hostPost, waitRendered, dashboardSuite, type OpenOptions } from './harness';

const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
const dashboard = dashboardSuite();
const fixture = makeFixture({ cycles: 2, candidates: 40, seed: 3 });

const uiState = (view: string, paperReference: boolean | null = null) => ({ view, paperReference, noveltyCycle: null, selectedKey: null, query: DEFAULT_QUERY });

async function open(events: readonly Event[], options: OpenOptions = {}): Promise<Page> {
  const { page } = await dashboard.open(options);
  await hostPost(page, { type: 'snapshot', state: snapshotOf(events) });
  await waitRendered(page, events.at(-1)?.seq ?? 0);
  return page;
}

/** The tabs under which an underline is drawn: the toolkit's indicator (if shown) and any tab's own underline. */
function underlinedTabs(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const panels = document.querySelector('vscode-panels') as HTMLElement;
    const tabs = [...document.querySelectorAll<HTMLElement>('vscode-panel-tab')];
    const lines: DOMRect[] = [];
    const indicator = panels.shadowRoot?.querySelector<HTMLElement>('.activeIndicator');
    if (indicator && indicator.getBoundingClientRect().width > 0) {
      // Its translate is part of its box; where it ends up after the transition is its grid column.
      lines.push(indicator.getBoundingClientRect());
    }
    for (const tab of tabs) if (getComputedStyle(tab).boxShadow !== 'none') lines.push(tab.getBoundingClientRect());
    return tabs
      .filter((tab) => {
        const box = tab.getBoundingClientRect();
        return lines.some((line) => line.left < box.right && line.right > box.left);
      })
      .map((tab) => tab.textContent ?? '');
  });
}

test('the tab underline is under the active tab when the dashboard returns on another tab, and follows clicks', async () => {
  for (const view of ['candidates', 'live', 'novelty']) {
    const page = await open(fixture.events, { state: uiState(view) });
    await page.waitForFunction((v) => document.querySelector(`#tab-${v}`)?.getAttribute('aria-selected') === 'true', view);
    const label = await page.textContent(`#tab-${view}`);
    assert.deepEqual(await underlinedTabs(page), [label], `returning on ${view}`);
    await page.click('[data-testid=tab-cycles]');
    await page.waitForFunction(() => document.querySelector('#tab-cycles')?.getAttribute('aria-selected') === 'true');
    assert.deepEqual(await underlinedTabs(page), ['Cycles']);
    await page.click(`[data-testid=tab-${view}]`);
    await page.waitForFunction((v) => document.querySelector(`#tab-${v}`)?.getAttribute('aria-selected') === 'true', view);
    assert.deepEqual(await underlinedTabs(page), [label]);
    await page.close();
  }
});

test('the Annotation column is in view with its whole title at every editor width, not half under the Actions', async () => {
  for (const width of [800, 900, 1000, 1150, 1250, 1300, 1400, 1800]) {
    const page = await open(fixture.events, { state: uiState('candidates'), width });
    await page.waitForSelector('.grid-body .grid-row');
    // What a user sees of the header cell: its own width, less whatever the sticky Actions column covers.
    const seen = await page.evaluate(() => {
      const scroller = document.querySelector('[data-testid=candidate-grid]') as HTMLElement;
      const cell = document.querySelector('.grid-header .col-annotation') as HTMLElement;
      const actions = document.querySelector('.grid-header .col-actions') as HTMLElement;
      const box = cell.getBoundingClientRect();
      const right = Math.min(box.right, actions.getBoundingClientRect().left, scroller.getBoundingClientRect().right);
      const left = Math.max(box.left, scroller.getBoundingClientRect().left);
      const range = document.createRange();
      range.selectNodeContents(cell);
      const padding = parseFloat(getComputedStyle(cell).paddingLeft);
      return { visible: Math.max(0, right - left), text: Math.ceil(range.getBoundingClientRect().width + padding), own: cell.clientWidth };
    });
    assert.ok(seen.own >= seen.text, `at ${width} px the column is narrower than its title (${seen.own} < ${seen.text})`);
    assert.ok(seen.visible >= seen.text, `at ${width} px only ${seen.visible} of ${seen.text} px of "Annotation" show`);
    await page.close();
  }
});

function runWithoutFinishedCycles(): Event[] {
  let seq = 0;
  const e = (kind: string, data: Record<string, unknown>): Event => ({ type: 'event', seq: ++seq, run: 'r', ts: 1_700_000_000_000 + seq, kind, data }) as Event;
  return [
    e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 2, candidatesPerCycle: 2, protocol: 'fast', executor: 'local', config: {} }),
    e('cycle.started', { cycle: 1, candidates: 2, adapter: null }),
  ];
}

test('the paper overlay is off until the run has a finished cycle, then on unless the user turned it off', async () => {
  const fresh = runWithoutFinishedCycles();
  let page = await open(fresh, { state: uiState('cycles') });
  assert.equal(await page.$$eval('.paper-row', (rows) => rows.length), 0);
  assert.equal(await page.$eval('[data-testid=paper-toggle]', (box) => (box as HTMLElement & { checked: boolean }).checked), false);
  await page.close();

  page = await open(fixture.events, { state: uiState('cycles') });
  assert.ok((await page.$$eval('.paper-row', (rows) => rows.length)) > 0);
  assert.equal(await page.$eval('[data-testid=paper-toggle]', (box) => (box as HTMLElement & { checked: boolean }).checked), true);
  await page.close();

  page = await open(fixture.events, { state: uiState('cycles', false) });
  assert.equal(await page.$$eval('.paper-row', (rows) => rows.length), 0);
  await page.close();
});

test('the fine-tune loss chart keeps earlier cycles\' curves when a new cycle starts', async () => {
  const events = runWithoutFinishedCycles();
  let seq = events.at(-1)?.seq ?? 0;
  const e = (kind: string, data: Record<string, unknown>): Event => ({ type: 'event', seq: ++seq, run: 'r', ts: 1_700_000_000_000 + seq, kind, data }) as Event;
  events.push(
    ...[1, 2, 3].map((step) => e('finetune.progress', { cycle: 1, step, total: 3, loss: 2 / step, etaSeconds: null })),
    e('cycle.started', { cycle: 2, candidates: 2, adapter: null }),
    e('finetune.progress', { cycle: 2, step: 1, total: 3, loss: 0.9, etaSeconds: null }),
  );
  const page = await open(events, { state: uiState('live') });
  const datasets = await page.evaluate(() => {
    const Chart = (window as unknown as { __archloopChart: { getChart(c: HTMLCanvasElement): { data: { datasets: { label: string; data: { x: number; y: number }[] }[] } } | undefined } }).__archloopChart;
    const chart = Chart.getChart(document.querySelector('canvas[data-chart=loss]') as HTMLCanvasElement);
    return (chart?.data.datasets ?? []).map((d) => ({ label: d.label, steps: d.data.map((p) => p.x) }));
  });
  assert.deepEqual(datasets, [
    { label: 'Fine-tune loss', steps: [1] },
    { label: 'Cycle 1', steps: [1, 2, 3] },
  ]);
  await page.close();
});

test('the live view says when the run is paused or stopping, and its clock leaves paused time out', async () => {
  const run = 'held-run';
  let seq = 0;
  const at = (ts: number, kind: string, data: Record<string, unknown>): Event => ({ type: 'event', seq: ++seq, run, ts, kind, data }) as Event;
  const t0 = 1_700_000_000_000;
  const events = [
    at(t0, 'run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 3, candidatesPerCycle: 6, protocol: 'fast', executor: 'local', config: {} }),
    at(t0 + 1_000, 'cycle.started', { cycle: 1, candidates: 6, adapter: null }),
    at(t0 + 61_000, 'run.paused', {}),
  ];
  const page = await open(events, { state: uiState('live') });
  const stage = page.locator('[data-testid=live-stage]');
  // Running from run.created to the pause: 61 s, however long ago the pause was.
  assert.equal(await stage.innerText(), 'Cycle 1 of 3 — stage: generating · paused: waits before its next step until resumed · running for 1 min 1 s');
  assert.equal(await stage.getAttribute('data-hold'), 'paused');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/live-paused.png` });
  await hostPost(page, { type: 'events', events: [at(t0 + 500_000, 'run.resumed', {}), at(t0 + 530_000, 'run.stop_requested', {})].map(toDashboardEvent) });
  await waitRendered(page, seq);
  assert.match(await stage.innerText(), /^Cycle 1 of 3 — stage: generating · stopping after its current step · running for /);
  assert.equal(await stage.getAttribute('data-hold'), 'stopping');
  await page.close();
});
