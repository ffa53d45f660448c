/// <reference lib="dom" />
/**
 * The layer graph panel in headless Chromium, under the page and CSP VS Code would show (dashboardHtml): a 120-layer
 * residual net is drawn with every node, none overlapping, each with its type, shape and parameters; clicking a node
 * with a construction line posts the typed reveal message, a node without one posts nothing; zoom resizes the SVG.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as esbuild from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import type { LayerGraphShow, LayerGraphWebviewMessage } from '../../src/protocol/layerGraph';
import type { LayerNode } from '../../src/protocol/messages';
import { dashboardHtml, makeNonce } from '../../src/ui/dashboardHtml';
import { launchChromium } from './harness';

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = process.env.ARCHLOOP_ARTIFACTS ?? 'artifacts/webview';
let browser: Browser;
let server: Server;
let origin: string;

// What VS Code injects (a light theme's variables the panel reads) and the acquireVsCodeApi stand-in.
const THEME = `html { --vscode-foreground: #616161; --vscode-editor-background: #ffffff; --vscode-descriptionForeground: #717171;
  --vscode-font-family: system-ui, sans-serif; --vscode-font-size: 13px; --vscode-editor-font-family: monospace;
  --vscode-editorWidget-background: #f3f3f3; --vscode-widget-border: #d4d4d4; --vscode-focusBorder: #0090f1;
  --vscode-charts-blue: #1a85ff; --vscode-charts-green: #388a34; --vscode-charts-orange: #d18616;
  --vscode-charts-purple: #652d90; --vscode-charts-red: #e51400; --vscode-charts-yellow: #bf8803;
  --vscode-button-secondaryBackground: #5f6a79; --vscode-button-secondaryForeground: #ffffff;
  --vscode-button-secondaryHoverBackground: #4c5561; }`;
const STUB = `(() => {
  window.__posted = [];
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))), getState: () => undefined, setState: () => {} });
})();`;

before(async () => {
  const outdir = mkdtempSync(join(tmpdir(), 'archloop-layers-'));
  await esbuild.build({
    entryPoints: [join(ROOT, 'webview/src/layers/main.ts')],
    outfile: join(outdir, 'layers.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    logLevel: 'warning',
  });
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const host = `http://${request.headers.host}`;
    const pages: Record<string, [string, string | Buffer]> = {
      '/': ['text/html', dashboardHtml({ cspSource: host, nonce: makeNonce(), scriptUri: `${host}/layers.js`, styleUri: `${host}/media/layers.css`, preludeScriptUris: [`${host}/stub.js`], extraStyleUris: [`${host}/theme.css`], title: 'Layers' })],
      '/layers.js': ['text/javascript', readFileSync(join(outdir, 'layers.js'))],
      '/stub.js': ['text/javascript', STUB],
      '/theme.css': ['text/css', THEME],
      '/media/layers.css': ['text/css', readFileSync(join(ROOT, 'media', 'layers.css'))],
    };
    const found = pages[url.pathname];
    response.writeHead(found ? 200 : 404, { 'content-type': found?.[0] ?? 'text/plain' });
    response.end(found?.[1] ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** A stem, 19 residual blocks of six calls (conv, bn, relu, conv, bn, shortcut reading the block input), a head. */
function residualNet(): LayerNode[] {
  const layers: LayerNode[] = [];
  const add = (name: string, type: string, params: number, shape: number[], inputs: number[], line: number | null): number => {
    layers.push({ name, type, params, shape, inputs, line });
    return layers.length - 1;
  };
  let last = add('stem.0', 'Conv2d', 432, [1, 16, 32, 32], [], 30);
  last = add('stem.1', 'BatchNorm2d', 32, [1, 16, 32, 32], [last], 31);
  // The recorder charges relu(bn2 + shortcut), functional code, to both branches: they feed the next block.
  let blockInput = [add('stem.2', 'ReLU', 0, [1, 16, 32, 32], [last], 32)];
  for (let b = 0; b < 19; b++) {
    const width = 16 << Math.floor(b / 7);
    const size = 32 >> Math.floor(b / 7);
    let x = add(`layers.${b}.conv1`, 'Conv2d', 9 * width * width, [1, width, size, size], blockInput, 12);
    x = add(`layers.${b}.bn1`, 'BatchNorm2d', 2 * width, [1, width, size, size], [x], 13);
    x = add(`layers.${b}.relu`, 'ReLU', 0, [1, width, size, size], [x], 14);
    x = add(`layers.${b}.conv2`, 'Conv2d', 9 * width * width, [1, width, size, size], [x], 15);
    x = add(`layers.${b}.bn2`, 'BatchNorm2d', 2 * width, [1, width, size, size], [x], 16);
    blockInput = [x, add(`layers.${b}.shortcut`, 'Identity', 0, [1, width, size, size], blockInput, null)];
  }
  add('pool', 'AdaptiveAvgPool2d', 0, [1, 64, 1, 1], blockInput, 40);
  add('drop', 'Dropout', 0, [1, 64], [layers.length - 1], 41);
  add('head', 'Linear', 650, [1, 10], [layers.length - 1], 42);
  return layers;
}

async function open(message: LayerGraphShow): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${origin}/`);
  // The page says it is ready before the host sends the graph, as the panel's host waits for it.
  await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'layers.ready'));
  await page.evaluate((m) => window.postMessage(m, '*'), message);
  await page.waitForFunction((n) => document.documentElement.dataset.layersShown === String(n), message.layers.length);
  return { page, errors };
}

const posted = (page: Page): Promise<LayerGraphWebviewMessage[]> => page.evaluate(() => (window as unknown as { __posted: LayerGraphWebviewMessage[] }).__posted);

test('a 120-layer net is drawn whole, without overlaps, and a click asks to reveal the construction line', async () => {
  const layers = residualNet();
  assert.equal(layers.length, 120);
  const { page, errors } = await open({ type: 'layers.show', candidate: 'c3-0007', cycle: 3, layers, truncated: false });

  const boxes = await page.$$eval('.layer-node', (nodes) => nodes.map((n) => {
    const r = n.getBoundingClientRect();
    return { index: Number(n.getAttribute('data-index')), x: r.x, y: r.y, w: r.width, h: r.height, text: n.textContent ?? '' };
  }));
  assert.equal(boxes.length, 120);
  assert.deepEqual(boxes.map((b) => b.index).sort((a, b) => a - b), [...Array(120).keys()]);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i]!;
      const b = boxes[j]!;
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.ok(!overlap, `nodes ${a.index} and ${b.index} overlap`);
    }
  }
  // Top to bottom: each node lies below the nodes it reads from.
  for (const [i, node] of layers.entries()) {
    for (const from of node.inputs) assert.ok(boxes.find((b) => b.index === from)!.y < boxes.find((b) => b.index === i)!.y, `${from} above ${i}`);
  }
  const conv = boxes.find((b) => b.index === 3)!;
  assert.match(conv.text, /Conv2d/);
  assert.match(conv.text, /1×16×32×32/);
  assert.match(conv.text, /2\.3k params/);
  const skips = layers.reduce((sum, node, i) => sum + node.inputs.filter((from) => i - from > 1).length, 0);
  assert.ok(skips >= 19);
  assert.equal(await page.locator('.layers-edge.skip').count(), skips); // edges past the previous call are dashed
  assert.match((await page.textContent('.layers-header')) ?? '', /c3-0007 · cycle 3 · 120 layer calls/);

  mkdirSync('/tmp/artifacts', { recursive: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: '/tmp/artifacts/layer-graph.png' });

  await page.locator('.layer-node[data-index="57"]').scrollIntoViewIfNeeded();
  await page.click('.layer-node[data-index="57"]');
  await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'layers.reveal'));
  assert.deepEqual((await posted(page)).filter((m) => m.type === 'layers.reveal'), [{ type: 'layers.reveal', candidate: 'c3-0007', node: 57, line: layers[57]!.line }]);

  // A shortcut has no line in the source: not a button, and a click posts nothing.
  const shortcut = layers.findIndex((n) => n.line === null);
  assert.equal(await page.getAttribute(`.layer-node[data-index="${shortcut}"]`, 'role'), 'listitem');
  await page.locator(`.layer-node[data-index="${shortcut}"]`).scrollIntoViewIfNeeded();
  await page.click(`.layer-node[data-index="${shortcut}"]`);
  // Click handlers run during the click's dispatch, which page.click waits for: a post would be there by now.
  assert.equal((await posted(page)).filter((m) => m.type === 'layers.reveal').length, 1);

  const width = Number(await page.getAttribute('[data-testid=layer-graph]', 'width'));
  await page.click('button[title="Zoom out"]');
  await page.waitForFunction((w) => Number(document.querySelector('[data-testid=layer-graph]')?.getAttribute('width')) < w, width);
  await page.click('button[title^="Zoom so the graph fits"]');
  await page.waitForFunction(() => {
    const svg = document.querySelector('[data-testid=layer-graph]');
    const pane = document.querySelector('.layers-pane');
    return !!svg && !!pane && Number(svg.getAttribute('width')) <= pane.clientWidth;
  });
  await page.screenshot({ path: join(ARTIFACTS, 'layer-graph-fit.png') });

  assert.deepEqual(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a graph at the recorder\'s cap (2,000 calls) is laid out and drawn whole', async () => {
  const layers: LayerNode[] = Array.from({ length: 2000 }, (_, i) => ({
    name: `blocks.${Math.floor(i / 4)}.${i % 4}`, type: i % 4 === 0 ? 'Conv2d' : 'ReLU', params: i % 4 === 0 ? 2304 : 0,
    shape: [1, 16, 16, 16], inputs: i === 0 ? [] : i % 8 === 0 && i >= 8 ? [i - 1, i - 8] : [i - 1], line: 10 + (i % 4),
  }));
  const started = Date.now();
  const { page, errors } = await open({ type: 'layers.show', candidate: 'c9-0001', cycle: 9, layers, truncated: true });
  console.log(`2,000 layer calls laid out and drawn in ${Date.now() - started} ms`);
  assert.equal(await page.locator('.layer-node').count(), 2000);
  assert.match((await page.textContent('.layers-header')) ?? '', /cut at the cap/);
  const tops = await page.$$eval('.layer-node', (nodes) => nodes.map((n) => n.getBoundingClientRect().top));
  for (let i = 1; i < tops.length; i++) assert.ok(tops[i]! > tops[i - 1]!, `call ${i} is drawn below call ${i - 1}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a malformed graph from the host is dropped with a console error, not drawn', async () => {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
  const dropped = page.waitForEvent('console', (m) => m.type() === 'error' && m.text().includes('dropped an invalid host message'));
  await page.evaluate(() => window.postMessage({ type: 'layers.show', candidate: 'x', cycle: 1, layers: [{ name: 'a' }], truncated: false }, '*'));
  await dropped;
  assert.equal(await page.locator('.layer-node').count(), 0);
  assert.equal(await page.textContent('.layers-header'), 'Waiting for the layer graph…');
  await page.close();
});
