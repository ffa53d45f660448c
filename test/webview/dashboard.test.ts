/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (DOM types: parts of this file run inside the page, through page.evaluate.)
/**
 * The built dashboard bundle in headless Chromium, on the page dashboardHtml() makes (same CSP as in VS Code), fed
 * fixture runs through a stand-in acquireVsCodeApi. Checks what a user sees and what the host would receive.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { toDashboardEvent, type HostMessage } from '../../src/protocol/dashboard';
import { PAPER_ROWS } from '../../webview/src/paperReference';
import { formatPercent } from '../../webview/src/format';
import { DEFAULT_QUERY, queryCandidates } from '../../webview/src/candidateQuery';
import type { CandidateRow } from '../../src/protocol/dashboardState';
import { HOSTILE_STRINGS, makeFixture, makeLiveEvents, snapshotOf, type Fixture } from './fixture';
import {
  buildWebview,
  chartData,
  clearPosted,
  hostPost,
  launchChromium,
  openDashboard,
  pickOption,
  posted,
  serveDashboard,
  violations,
  waitForPosted,
  waitForColumn,
  waitRendered,
  type DashboardServer,
  type OpenOptions,
} from './harness';

const ARTIFACTS = 'artifacts/webview';
let browser: Browser;
let server: DashboardServer;
const fixture = makeFixture({ cycles: 6, candidates: 600, seed: 5 });
const lastSeq = (f: Fixture): number => f.events.at(-1)?.seq ?? 0;

before(async () => {
  const bundle = await buildWebview();
  server = await serveDashboard(bundle);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function loaded(f: Fixture = fixture, options: OpenOptions = {}): Promise<Awaited<ReturnType<typeof openDashboard>>> {
  const opened = await openDashboard(browser, server.origin, options);
  await hostPost(opened.page, { type: 'snapshot', state: snapshotOf(f.events) });
  await waitRendered(opened.page, lastSeq(f));
  return opened;
}

async function showView(page: Page, view: string): Promise<void> {
  await page.click(`[data-testid=tab-${view}]`);
  await page.waitForFunction((v) => document.querySelector(`#view-${v}`)?.checkVisibility() === true, view);
}

async function gridRows(page: Page): Promise<{ key: string; status: string; cells: string[] }[]> {
  return page.$$eval('.grid-body .grid-row', (rows) =>
    rows.map((row) => ({
      key: (row as HTMLElement).dataset.key ?? '',
      status: (row as HTMLElement).dataset.status ?? '',
      cells: [...row.children].map((cell) => cell.textContent ?? ''),
    })),
  );
}

function countText(page: Page): Promise<string> {
  return page.locator('[data-testid=candidate-count]').innerText();
}

test('shows a loading state and asks for a snapshot, then shows the run', async () => {
  const { page, pageErrors } = await openDashboard(browser, server.origin);
  assert.deepEqual(await posted(page), [{ type: 'ready' }]);
  assert.equal(await page.getAttribute('#root', 'data-state'), 'loading');
  assert.ok(await page.locator('[data-testid=loading]').isVisible());
  // Events before the snapshot are ignored: the snapshot that answers `ready` contains them.
  await hostPost(page, { type: 'events', events: fixture.events.slice(0, 3).map(toDashboardEvent) });
  await page.waitForTimeout(50);
  assert.equal(await page.getAttribute('#root', 'data-state'), 'loading');
  await hostPost(page, { type: 'snapshot', state: snapshotOf(fixture.events) });
  await waitRendered(page, lastSeq(fixture));
  assert.equal(await page.getAttribute('#root', 'data-state'), 'ready');
  assert.equal(await page.locator('[data-testid=loading]').isVisible(), false);
  assert.match(await page.locator('[data-testid=run-header]').innerText(), /fixture run .* 600 candidates/);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('cycles table and charts carry the fixture’s numbers; the paper overlay shows the paper’s and toggles', async () => {
  const { page } = await loaded();
  const rows = await page.$$eval('tr[data-cycle]', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));
  assert.equal(rows.length, fixture.stats.length);
  fixture.stats.forEach((stats, i) => {
    const cells = rows[i] ?? [];
    assert.equal(cells[0], String(stats.cycle));
    assert.ok(cells[1]?.startsWith(formatPercent(stats.validPct, 1)), `${cells[1]}`);
    assert.ok(cells[1]?.includes(`[${stats.validCI[0].toFixed(1)} – ${stats.validCI[1].toFixed(1)}]`), `${cells[1]}`);
    assert.equal(cells[2], formatPercent(stats.bestAcc));
    assert.equal(cells[3], formatPercent(stats.meanAcc));
    assert.ok(cells[4]?.startsWith(formatPercent(stats.atLeast40Pct)));
    assert.equal(cells[5], String(stats.uniqueModels));
    assert.equal(cells[6], stats.totalTrainPrompts.toLocaleString('en-US'));
  });

  const accuracy = await chartData(page, 'accuracy');
  const byLabel = (sets: typeof accuracy, label: string) => sets.find((d) => d.label === label)?.data;
  assert.deepEqual(byLabel(accuracy, 'Best'), fixture.stats.map((s) => ({ x: s.cycle, y: s.bestAcc })));
  assert.deepEqual(byLabel(accuracy, 'Mean'), fixture.stats.map((s) => ({ x: s.cycle, y: s.meanAcc })));
  assert.deepEqual(byLabel(accuracy, 'Paper best'), PAPER_ROWS.map((r) => ({ x: r.cycle, y: r.bestAcc })));
  const share = await chartData(page, 'share');
  assert.deepEqual(byLabel(share, 'Valid %'), fixture.stats.map((s) => ({ x: s.cycle, y: s.validPct })));
  assert.deepEqual(byLabel(share, 'Valid % CI low'), fixture.stats.map((s) => ({ x: s.cycle, y: s.validCI[0] })));
  assert.deepEqual(byLabel(share, 'Valid % 95 % CI'), fixture.stats.map((s) => ({ x: s.cycle, y: s.validCI[1] })));
  assert.deepEqual(byLabel(share, '≥ 40 % 95 % CI'), fixture.stats.map((s) => ({ x: s.cycle, y: s.atLeast40CI?.[1] })));
  assert.deepEqual(byLabel(share, 'Paper ≥ 40 %'), PAPER_ROWS.map((r) => ({ x: r.cycle, y: r.atLeast40Pct })));

  const paperRows = await page.$$eval('tr[data-paper-cycle]', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent ?? '')));
  assert.deepEqual(
    paperRows.map((cells) => cells.slice(1)),
    PAPER_ROWS.map((r) => [
      formatPercent(r.validPct, 1), formatPercent(r.bestAcc), formatPercent(r.meanAcc), formatPercent(r.atLeast40Pct),
      String(r.uniqueModels), r.totalTrainPrompts.toLocaleString('en-US'),
    ]),
  );
  assert.match(await page.locator('.cycles-view .summary').innerText(), /paper: valid 50\.6 %/);

  await page.click('[data-testid=paper-toggle]');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-paper-cycle]').length === 0);
  assert.deepEqual(byLabel(await chartData(page, 'accuracy'), 'Paper best'), []);
  assert.deepEqual(await page.evaluate(() => (window as unknown as { __state: { paperReference: boolean } }).__state.paperReference), false);
  await page.close();
});

test('candidates sort, filter by status and text, and virtualise', async () => {
  const { page } = await loaded();
  await showView(page, 'candidates');
  assert.equal(await countText(page), '600 of 600 candidates');
  const rendered = await gridRows(page);
  assert.ok(rendered.length > 10 && rendered.length < 80, `rendered ${rendered.length} rows of 600`);

  const accuracies = fixture.events.flatMap((e) => (e.kind === 'candidate.evaluated' && e.data.accuracy !== null ? [e.data.accuracy] : []));
  await page.click('[data-sort=accuracy]');
  await page.click('[data-sort=accuracy]');
  await page.waitForFunction(() => document.querySelector('[data-sort=accuracy]')?.getAttribute('aria-sort') === 'descending');
  await page.waitForFunction((text) => document.querySelector('.grid-body .grid-row .col-accuracy')?.textContent === text, formatPercent(Math.max(...accuracies)));
  const top = (await gridRows(page)).slice(0, 5).map((r) => r.cells[4]);
  const expectedTop = [...accuracies].sort((a, b) => b - a).slice(0, 5).map((a) => formatPercent(a));
  assert.deepEqual(top, expectedTop);

  const invalid = fixture.events.filter((e) => e.kind === 'candidate.validated' && !e.data.ok).length;
  await pickOption(page, 'filter-status', 'invalid');
  await page.waitForFunction((n) => document.querySelector('[data-testid=candidate-count]')?.textContent === `${n} of 600 candidates`, invalid);
  const invalidRows = await gridRows(page);
  assert.ok(invalidRows.length > 0 && invalidRows.every((r) => r.status === 'invalid' && r.cells[2]?.startsWith('invalid: ')));

  await pickOption(page, 'filter-status', 'any');
  await page.locator('[data-testid=filter-text] input').fill('c03-001');
  await page.waitForFunction(() => document.querySelector('[data-testid=candidate-count]')?.textContent === '10 of 600 candidates');
  assert.ok((await gridRows(page)).every((r) => r.key.startsWith('3/c03-001')));

  await pickOption(page, 'filter-verdict', 'reject');
  const rejected = fixture.events.filter((e) => e.kind === 'candidate.verdict' && e.data.verdict === 'reject' && e.data.candidate.startsWith('c03-001')).length;
  await page.waitForFunction((n) => document.querySelector('[data-testid=candidate-count]')?.textContent === `${n} of 600 candidates`, rejected);
  await page.close();
});

test('row actions and keyboard post open, diff, verdict and annotate messages for the right candidate', async () => {
  const { page } = await loaded();
  await showView(page, 'candidates');
  await page.locator('[data-testid=filter-text] input').fill('c02-000');
  await page.waitForFunction(() => document.querySelector('[data-testid=candidate-count]')?.textContent === '10 of 600 candidates');
  await clearPosted(page);
  await page.click('.grid-row[data-key="2/c02-0003"] [data-action=accept]');
  await page.click('.grid-row[data-key="2/c02-0004"] [data-action=open]');
  assert.deepEqual(await posted(page), [
    { type: 'verdict', cycle: 2, candidate: 'c02-0003', verdict: 'accept' },
    { type: 'open', cycle: 2, candidate: 'c02-0004' },
  ]);

  await clearPosted(page);
  await page.focus('[data-testid=candidate-grid]');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => document.querySelector('.grid-row.selected')?.getAttribute('data-key') === '2/c02-0002');
  await page.keyboard.press('r');
  await page.keyboard.press('Enter');
  const nearest = fixture.events.find((e) => e.kind === 'candidate.novelty' && e.data.candidate === 'c02-0002');
  await page.keyboard.press('d');
  const expected: unknown[] = [
    { type: 'verdict', cycle: 2, candidate: 'c02-0002', verdict: 'reject' },
    { type: 'open', cycle: 2, candidate: 'c02-0002' },
  ];
  if (nearest?.kind === 'candidate.novelty' && nearest.data.nearest) expected.push({ type: 'diff', cycle: 2, candidate: 'c02-0002', nearest: nearest.data.nearest });
  assert.deepEqual(await posted(page), expected);
  assert.equal(await page.getAttribute('[data-testid=candidate-grid]', 'aria-activedescendant'), await page.getAttribute('.grid-row.selected', 'id'));

  await clearPosted(page);
  await page.keyboard.press('n');
  await page.keyboard.type('wide stem, try again');
  await page.locator('[data-testid=annotation-tags] input').fill('stem, retry');
  await page.click('[data-testid=annotation-save]');
  assert.deepEqual(await posted(page), [
    { type: 'annotate', cycle: 2, candidate: 'c02-0002', text: 'wide stem, try again', tags: ['stem', 'retry'] },
  ]);

  // The host's answer arrives as an event; the row shows it without a reload.
  await hostPost(page, {
    type: 'events',
    events: [{ type: 'event', seq: lastSeq(fixture) + 1, run: 'fixture-run', ts: 1, kind: 'candidate.annotated', data: { cycle: 2, candidate: 'c02-0002', text: 'wide stem, try again', tags: ['stem', 'retry'] } }],
  });
  await page.waitForFunction(() => document.querySelector('.grid-row[data-key="2/c02-0002"] .col-annotation')?.textContent === 'wide stem, try again [stem, retry]');
  await hostPost(page, { type: 'actionResult', action: 'verdict', candidate: 'c02-0002', ok: false, message: 'run store is read-only' });
  await page.waitForFunction(() => document.querySelector('[data-testid=notice]')?.textContent?.includes('run store is read-only'));
  await page.close();
});

test('novelty histogram counts each candidate’s highest Jaccard; the scatter names a point on hover and opens it on click', async () => {
  const { page } = await loaded();
  await showView(page, 'novelty');
  await pickOption(page, 'novelty-cycle', '3');
  const expected = new Array(20).fill(0);
  for (const e of fixture.events) {
    if (e.kind === 'candidate.novelty' && e.data.cycle === 3) expected[Math.min(19, Math.floor(e.data.maxJaccard * 20))]++;
  }
  await page.waitForFunction(() => document.querySelector('.novelty-view .summary')?.textContent?.includes('threshold 0.85'));
  const histogram = await chartData(page, 'histogram');
  assert.deepEqual(histogram[0]?.data.map((bin) => bin.y), expected);
  assert.deepEqual(histogram[0]?.data.map((bin) => Number(bin.x.toFixed(3))), expected.map((_, i) => Number(((i + 0.5) / 20).toFixed(3))));

  const trained = fixture.events.filter((e) => e.kind === 'candidate.evaluated' && e.data.cycle === 3 && e.data.accuracy !== null).length;
  const scatter = await chartData(page, 'scatter');
  assert.equal((scatter[0]?.data.length ?? 0) + (scatter[1]?.data.length ?? 0), trained);

  const point = await page.evaluate(() => {
    type Point = { x: number; y: number };
    const Chart = (window as unknown as { __archloopChart: { getChart(c: HTMLCanvasElement): { getDatasetMeta(i: number): { data: { getProps(p: string[], final: boolean): Point }[] }; data: { datasets: { data: { id: string; cycle: number }[] }[] } } } }).__archloopChart;
    const canvas = document.querySelector('canvas[data-chart=scatter]') as HTMLCanvasElement;
    const chart = Chart.getChart(canvas);
    // Where the point ends up, not where an animation has it now: Chart.js replays the pointer against final
    // positions once an animation ends, so the tooltip then shows even if the point was still moving.
    const element = chart.getDatasetMeta(0).data[0]?.getProps(['x', 'y'], true);
    const rect = canvas.getBoundingClientRect();
    const raw = chart.data.datasets[0]?.data[0];
    return element && raw ? { x: rect.left + element.x, y: rect.top + element.y, id: raw.id, cycle: raw.cycle } : null;
  });
  assert.ok(point, 'the scatter has a novel point');
  await page.mouse.move(point.x, point.y);
  await page.waitForFunction((id) => {
    const Chart = (window as unknown as { __archloopChart: { getChart(c: HTMLCanvasElement): { tooltip: { body?: { lines: string[] }[] } } } }).__archloopChart;
    const tooltip = Chart.getChart(document.querySelector('canvas[data-chart=scatter]') as HTMLCanvasElement).tooltip;
    return (tooltip.body ?? []).some((b) => b.lines.some((line) => line.startsWith(`${id} (cycle 3): accuracy `)));
  }, point.id);
  await clearPosted(page);
  await page.mouse.click(point.x, point.y);
  const messages = await waitForPosted(page);
  assert.equal(messages.length, 1);
  assert.equal(messages[0]?.type, 'open');
  assert.deepEqual(messages[0], { type: 'open', cycle: 3, candidate: messages[0]?.type === 'open' ? messages[0].candidate : '' });
  await page.close();
});

test('live view follows incoming events and the code stream without a reload', async () => {
  const { page } = await loaded();
  await showView(page, 'live');
  const live = makeLiveEvents(fixture, 61);
  for (let i = 0; i < live.length; i += 10) {
    await hostPost(page, { type: 'events', events: live.slice(i, i + 10).map(toDashboardEvent) });
  }
  await waitRendered(page, live.at(-1)?.seq ?? 0);
  assert.match(await page.locator('[data-testid=live-stage]').innerText(), /Cycle 7 of 6 — stage: (finetuning|generating)/);
  assert.equal(await page.locator('[data-testid=live-generated]').innerText(), '10 / 150');
  assert.equal(await page.locator('[data-testid=live-validated]').innerText(), '10 (10 valid)');
  assert.equal(await page.locator('[data-testid=live-evaluated]').innerText(), '10');
  assert.equal((await chartData(page, 'loss'))[0]?.data.length, 10);
  const stream: HostMessage = { type: 'stream', stream: { type: 'stream', run: 'fixture-run', cycle: 7, candidate: 'live-11', offset: 1234, tail: 'class Net(nn.Module):\n    <b>not bold</b>', done: false } };
  await hostPost(page, stream);
  await page.waitForFunction(() => document.querySelector('[data-testid=live-stream]')?.textContent?.endsWith('<b>not bold</b>'));
  assert.equal(await page.locator('[data-testid=live-stream] b').count(), 0);
  // More of the same candidate's code, piece by piece: the pane joins the pieces and keeps the newest line in view.
  let end = 1234;
  for (let line = 0; line < 30; line++) {
    const piece = `\n        self.layer${line} = nn.Conv2d(32, 32, 3, padding=1)`;
    end += piece.length;
    await hostPost(page, { type: 'stream', stream: { type: 'stream', run: 'fixture-run', cycle: 7, candidate: 'live-11', offset: end, tail: piece, done: false } });
  }
  await page.waitForFunction(() => document.querySelector('[data-testid=live-stream]')?.textContent?.endsWith('self.layer29 = nn.Conv2d(32, 32, 3, padding=1)'));
  const pane = page.locator('[data-testid=live-stream]');
  const metrics = () => pane.evaluate((el) => ({ top: el.scrollTop, height: el.scrollHeight, client: el.clientHeight, text: el.textContent ?? '' }));
  const following = await metrics();
  assert.ok(following.text.includes('self.layer0 ='), 'the pieces were not joined');
  assert.ok(following.height > following.client, 'the code should overflow the pane');
  assert.ok(following.height - following.top - following.client < 2, `the newest line is out of view: ${JSON.stringify(following)}`);
  // A reader who scrolled up keeps their place while code arrives.
  await pane.evaluate((el) => (el.scrollTop = 0));
  end += 12;
  await hostPost(page, { type: 'stream', stream: { type: 'stream', run: 'fixture-run', cycle: 7, candidate: 'live-11', offset: end, tail: '\n        pass', done: false } });
  await page.waitForFunction(() => document.querySelector('[data-testid=live-stream]')?.textContent?.endsWith('pass'));
  assert.equal((await metrics()).top, 0);
  await page.close();
});

test('hostile strings render as text and run nothing', async () => {
  const hostile = makeFixture({ cycles: 2, candidates: 120, seed: 9, hostile: true });
  const { page, dialogs, pageErrors } = await loaded(hostile);
  assert.ok((await page.locator('[data-testid=run-header]').innerText()).includes(HOSTILE_STRINGS[0]));
  await showView(page, 'candidates');
  // What the grid must show for each filter, from the same rows the page got: wait for exactly that, not for "rows".
  const rows = snapshotOf(hostile.events).candidates;
  const matching = (text: string): CandidateRow[] => queryCandidates(rows, { ...DEFAULT_QUERY, text }).map((i) => rows[i] as CandidateRow);
  const filterTo = async (text: string): Promise<CandidateRow[]> => {
    const expected = matching(text);
    assert.ok(expected.length > 0 && expected.length < 30, `the fixture should give a short list for ${text}: ${expected.length}`);
    await page.locator('[data-testid=filter-text] input').fill(text);
    await waitForColumn(page, 'id', expected.map((row) => row.id));
    return expected;
  };
  await filterTo('onerror');
  const annotations = await page.$$eval('.grid-body .col-annotation', (cells) => cells.map((c) => c.textContent ?? ''));
  assert.ok(annotations.some((text) => text.startsWith(HOSTILE_STRINGS[0])), JSON.stringify(annotations.slice(0, 3)));
  await filterTo('script');
  await page.click('.grid-body .grid-row .col-id');
  await filterTo('ẞẞẞ');
  await page.click('.grid-body .grid-row .col-id');
  assert.ok((await page.locator('[data-testid=candidate-detail]').innerText()).includes('ẞẞẞ') || (await page.locator('.grid-body').innerText()).includes('ẞẞẞ'));
  for (const view of ['novelty', 'live', 'cycles']) await showView(page, view);
  const injected = await page.evaluate(() => ({
    pwned: (window as unknown as { __pwned?: number }).__pwned,
    elements: document.querySelectorAll('#root img, #root script, #root svg, #root iframe').length,
  }));
  assert.deepEqual(injected, { pwned: undefined, elements: 0 });
  assert.deepEqual(dialogs, []);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('charts follow a theme switch in place: axis ticks and titles too, not only legends', async () => {
  const { page } = await loaded();
  // What VS Code does on a theme change: new --vscode-* values inline on <html>, and the body's theme class swapped.
  await page.evaluate(() => {
    const style = document.documentElement.style;
    for (const [name, value] of Object.entries({ foreground: '#ffffff', 'charts-foreground': '#ffffff', 'charts-lines': '#6fc3df', 'editor-background': '#000000', 'descriptionForeground': '#ffffff' })) {
      style.setProperty(`--vscode-${name}`, value);
    }
    document.body.classList.replace('vscode-light', 'vscode-high-contrast');
  });
  const colours = async (chart: string) =>
    page.evaluate((name) => {
      type Resolved = { ticks: { color: unknown }; title: { color: unknown }; grid: { color: unknown } };
      const Chart = (window as unknown as { __archloopChart: { getChart(c: HTMLCanvasElement): { scales: Record<string, { options: Resolved }>; options: { plugins: { legend: { labels: { color: unknown } } } } } | undefined } }).__archloopChart;
      const instance = Chart.getChart(document.querySelector(`canvas[data-chart=${name}]`) as HTMLCanvasElement);
      if (!instance) return null;
      return Object.values(instance.scales).flatMap((scale) => [scale.options.ticks.color, scale.options.title.color, scale.options.grid.color]);
    }, chart);
  for (const [view, charts] of [['cycles', ['accuracy', 'share']], ['novelty', ['histogram', 'scatter']], ['live', ['loss']]] as const) {
    await showView(page, view);
    await page.waitForTimeout(100);
    for (const chart of charts) {
      const seen = await colours(chart);
      assert.ok(seen && seen.length >= 6, `${chart}: no scales`);
      assert.deepEqual([...new Set(seen)].sort(), ['#6fc3df', '#ffffff'], `${chart} kept the old theme's colours: ${JSON.stringify(seen)}`);
    }
  }
  await page.close();
});

test('in a narrow editor the id and the row actions stay in view while the wide grid scrolls sideways', async () => {
  const { page } = await loaded(fixture, { width: 900 });
  await showView(page, 'candidates');
  const scroller = page.locator('[data-testid=candidate-grid]');
  const overflow = await scroller.evaluate((el) => el.scrollWidth - el.clientWidth);
  assert.ok(overflow > 200, `the grid should overflow a 900 px editor (${overflow} px)`);
  // What is actually on top at a cell's centre (a user's click lands there), for the first row, scrolled both ways.
  const onTop = (column: string) =>
    page.evaluate((col) => {
      const scrollerBox = document.querySelector('[data-testid=candidate-grid]')!.getBoundingClientRect();
      const cell = document.querySelector(`.grid-body .grid-row .${col}`)!;
      const box = cell.getBoundingClientRect();
      const x = col === 'col-actions' ? box.left + 20 : box.left + box.width / 2;
      const inside = x > scrollerBox.left && x < scrollerBox.right;
      const hit = document.elementFromPoint(x, box.top + box.height / 2);
      return inside && hit !== null && (hit === cell || cell.contains(hit));
    }, column);
  for (const left of [0, overflow]) {
    await scroller.evaluate((el, x) => (el.scrollLeft = x), left);
    await page.waitForTimeout(50);
    for (const column of ['col-cycle', 'col-id', 'col-actions']) assert.ok(await onTop(column), `${column} hidden at scrollLeft ${left}`);
  }
  // Scrolled to the far right, a middle column is under the sticky id column or off-screen, not drawn through it.
  assert.equal(await onTop('col-accuracy'), false);
  await page.click('.grid-body .grid-row:nth-child(2) .col-id');
  await page.screenshot({ path: `${ARTIFACTS}/candidates-narrow-scrolled.png` });
  await page.close();
});

test('the page runs under its strict CSP with no violation, and the CSP really blocks inline code', async () => {
  const { page, consoleErrors } = await loaded();
  for (const view of ['novelty', 'live', 'cycles', 'candidates']) await showView(page, view);
  await page.locator('[data-testid=filter-text] input').fill('c0');
  await page.click('.grid-body .grid-row .col-id');
  assert.deepEqual(await violations(page), []);
  const csp = await page.getAttribute('meta[http-equiv=Content-Security-Policy]', 'content');
  assert.match(csp ?? '', /^default-src 'none'; img-src http:\/\/127\.0\.0\.1:\d+ data:; style-src http:\/\/127\.0\.0\.1:\d+ 'nonce-[^']+'; font-src http:\/\/127\.0\.0\.1:\d+; script-src 'nonce-[^']+'$/);
  assert.doesNotMatch(csp ?? '', /unsafe/);
  // The same page, deliberately breaking the rules: an inline script and an inline style attribute are refused.
  await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.__pwned = 1';
    document.body.appendChild(script);
    const div = document.createElement('div');
    div.setAttribute('style', 'color: red');
    document.body.appendChild(div);
  });
  await page.waitForFunction(() => (window as unknown as { __violations: unknown[] }).__violations.length >= 2);
  const directives = (await violations(page)).map((v) => (v as { directive: string }).directive).sort();
  assert.deepEqual(directives, ['script-src-elem', 'style-src-attr']);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.deepEqual(consoleErrors.filter((e) => !e.includes('Content Security Policy')), []);
  await page.close();
});

test('an invalid host message is reported to the host and dropped; the dashboard keeps working', async () => {
  const { page, pageErrors } = await loaded();
  await clearPosted(page);
  await page.evaluate(() => {
    const post = (window as unknown as { __hostPost(m: unknown): void }).__hostPost;
    post({ type: 'events', events: [{ type: 'event', seq: 999999, kind: 'candidate.verdict', data: { candidate: '<img src=x>' } }] });
    post('not even an object');
  });
  // A snapshot whose rows pass the fast row check except one: rejected whole, the shown state kept.
  const state = snapshotOf(fixture.events);
  const rows = state.candidates.map((row, i) => (i === 300 ? { ...row, id: '<img src=x>' } : row));
  await hostPost(page, { type: 'snapshot', state: { ...state, candidates: rows } } as unknown as HostMessage);
  await hostPost(page, { type: 'snapshot', state: { ...state, candidates: state.candidates.map((row, i) => (i === 7 ? { ...row, accuracy: 1e9 } : row)) } });
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length >= 4);
  const messages = await posted(page);
  assert.ok(messages.every((m) => m.type === 'webviewError' && m.message.startsWith('invalid host message dropped')));
  assert.match(await page.locator('[data-testid=run-header]').innerText(), new RegExp(`event #${lastSeq(fixture)}$`));
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('view state comes back from getState after a reload (tab, filters, selection)', async () => {
  const state = {
    view: 'candidates',
    paperReference: false,
    noveltyCycle: 2,
    selectedKey: '4/c04-0007',
    query: { cycle: 4, status: 'any', verdict: 'any', text: '', sortKey: 'id', sortDirection: 'desc' },
  };
  const { page } = await loaded(fixture, { state });
  await page.waitForFunction(() => document.querySelectorAll('.grid-body .grid-row').length > 0);
  assert.ok(await page.locator('#view-candidates').isVisible());
  const rows = await gridRows(page);
  assert.ok(rows.every((r) => r.key.startsWith('4/')));
  assert.equal(rows[0]?.key, '4/c04-0099');
  assert.equal(await page.getAttribute('[data-sort=id]', 'aria-sort'), 'descending');
  assert.match(await page.locator('[data-testid=candidate-detail] h3').innerText(), /c04-0007/);
  await page.close();
});

test('screenshots of every view in light and dark themes', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const theme of ['light', 'dark'] as const) {
    const { page } = await loaded(fixture, { theme });
    const live = makeLiveEvents(fixture, 300);
    await hostPost(page, { type: 'events', events: live.map(toDashboardEvent) });
    await hostPost(page, { type: 'stream', stream: { type: 'stream', run: 'fixture-run', cycle: 7, candidate: 'live-50', offset: 812, tail: 'class Net(nn.Module):\n    def __init__(self, in_shape, out_shape, prm, device):\n        super().__init__()\n        self.stem = nn.Conv2d(in_shape[1], 32, 3, padding=1)\n', done: false } });
    await waitRendered(page, live.at(-1)?.seq ?? 0);
    for (const view of ['cycles', 'novelty', 'candidates', 'live']) {
      await showView(page, view);
      if (view === 'candidates') {
        await page.click('.grid-body .grid-row:nth-child(3) .col-id');
      }
      if (view === 'novelty') await pickOption(page, 'novelty-cycle', '5');
      await page.waitForTimeout(150);
      await page.screenshot({ path: `${ARTIFACTS}/${view}-${theme}.png`, fullPage: true });
    }
    assert.deepEqual(await violations(page), []);
    await page.close();
  }
});
