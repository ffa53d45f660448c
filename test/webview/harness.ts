/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (DOM types: parts of this file run inside the page, through page.evaluate.)
/**
 * Serves the built dashboard on 127.0.0.1 exactly as VS Code would frame it (same HTML, same CSP via dashboardHtml)
 * and drives it in Debian's headless Chromium. The only stand-ins are what VS Code itself provides: the
 * acquireVsCodeApi object (here it records posted messages and lets the test post host messages) and the theme's
 * --vscode-* variables (a light and a dark set, with VS Code's body classes).
 */
import { createServer, type Server } from 'node:http';
import { after, before } from 'node:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dashboardHtml, makeNonce } from '../../src/ui/dashboardHtml';
import type { HostMessage, WebviewMessage } from '../../src/protocol/dashboard';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..');

/**
 * Builds the webview bundle like scripts/build.mjs does (browser, IIFE), into a private folder; `entry` (from the
 * repository root) swaps the page's script, as the dashboard benchmark does for its baseline.
 */
export async function buildWebview(entry = 'webview/src/main.ts'): Promise<string> {
  const outdir = mkdtempSync(join(tmpdir(), 'archloop-webview-'));
  await esbuild.build({
    entryPoints: [join(ROOT, entry)],
    outfile: join(outdir, 'main.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    logLevel: 'warning',
  });
  return outdir;
}

const STUB = `(() => {
  const params = new URLSearchParams(location.search);
  document.documentElement.dataset.testHooks = 'on';
  window.__posted = [];
  window.__violations = [];
  window.__state = params.get('state') ? JSON.parse(params.get('state')) : undefined;
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__violations.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber });
  });
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi may be called only once');
    acquired = true;
    return {
      postMessage: (message) => window.__posted.push(JSON.parse(JSON.stringify(message))),
      getState: () => window.__state,
      setState: (state) => { window.__state = JSON.parse(JSON.stringify(state)); },
    };
  };
  window.__hostPost = (message) => window.postMessage(message, '*');
})();
`;

/** VS Code's default light and dark theme colours for the variables the dashboard and the toolkit read. */
const THEMES: Record<'light' | 'dark', Record<string, string>> = {
  light: {
    'foreground': '#616161', 'editor-background': '#ffffff', 'descriptionForeground': '#717171',
    'errorForeground': '#a1260d', 'focusBorder': '#0090f1', 'panel-border': '#e5e5e5', 'widget-border': '#d4d4d4',
    'font-family': 'system-ui, sans-serif', 'font-size': '13px', 'editor-font-family': 'monospace',
    'charts-foreground': '#616161', 'charts-lines': 'rgba(97,97,97,0.25)', 'charts-blue': '#1a85ff',
    'charts-green': '#388a34', 'charts-red': '#e51400', 'charts-yellow': '#bf8803', 'charts-orange': '#d18616',
    'charts-purple': '#652d90', 'list-hoverBackground': '#f0f0f0', 'list-activeSelectionBackground': '#0060c0',
    'list-activeSelectionForeground': '#ffffff', 'badge-background': '#c4c4c4', 'badge-foreground': '#333333',
    'button-background': '#007acc', 'button-foreground': '#ffffff', 'button-hoverBackground': '#0062a3',
    'button-secondaryBackground': '#5f6a79', 'button-secondaryForeground': '#ffffff',
    'button-secondaryHoverBackground': '#4c5561', 'input-background': '#ffffff', 'input-foreground': '#616161',
    'dropdown-background': '#ffffff', 'dropdown-border': '#cecece', 'dropdown-foreground': '#616161',
    'editorWidget-background': '#f3f3f3', 'progressBar-background': '#0e70c0', 'textCodeBlock-background': '#f3f3f3',
    'panelTitle-activeForeground': '#424242', 'panelTitle-inactiveForeground': 'rgba(66,66,66,0.75)',
    'panelTitle-activeBorder': '#424242', 'checkbox-background': '#ffffff', 'checkbox-border': '#919191',
    'settings-checkboxBorder': '#919191', 'input-placeholderForeground': '#767676',
  },
  dark: {
    'foreground': '#cccccc', 'editor-background': '#1e1e1e', 'descriptionForeground': '#9d9d9d',
    'errorForeground': '#f48771', 'focusBorder': '#007fd4', 'panel-border': '#3c3c3c', 'widget-border': '#454545',
    'font-family': 'system-ui, sans-serif', 'font-size': '13px', 'editor-font-family': 'monospace',
    'charts-foreground': '#cccccc', 'charts-lines': 'rgba(204,204,204,0.25)', 'charts-blue': '#3794ff',
    'charts-green': '#89d185', 'charts-red': '#f14c4c', 'charts-yellow': '#cca700', 'charts-orange': '#d18616',
    'charts-purple': '#b180d7', 'list-hoverBackground': '#2a2d2e', 'list-activeSelectionBackground': '#04395e',
    'list-activeSelectionForeground': '#ffffff', 'badge-background': '#4d4d4d', 'badge-foreground': '#ffffff',
    'button-background': '#0e639c', 'button-foreground': '#ffffff', 'button-hoverBackground': '#1177bb',
    'button-secondaryBackground': '#3a3d41', 'button-secondaryForeground': '#ffffff',
    'button-secondaryHoverBackground': '#45494e', 'input-background': '#3c3c3c', 'input-foreground': '#cccccc',
    'dropdown-background': '#3c3c3c', 'dropdown-border': '#3c3c3c', 'dropdown-foreground': '#f0f0f0',
    'editorWidget-background': '#252526', 'progressBar-background': '#0e70c0', 'textCodeBlock-background': '#0a0a0a',
    'panelTitle-activeForeground': '#e7e7e7', 'panelTitle-inactiveForeground': 'rgba(231,231,231,0.6)',
    'panelTitle-activeBorder': '#e7e7e7', 'checkbox-background': '#3c3c3c', 'checkbox-border': '#6b6b6b',
    'settings-checkboxBorder': '#6b6b6b', 'input-placeholderForeground': '#a6a6a6',
  },
};

function themeCss(theme: 'light' | 'dark'): string {
  const vars = Object.entries(THEMES[theme]).map(([name, value]) => `  --vscode-${name}: ${value};`).join('\n');
  return `html {\n${vars}\n}\n`;
}

export interface DashboardServer {
  readonly origin: string;
  close(): Promise<void>;
}

/** Serves the page, the bundle, media/ and the test-only stub and themes. */
export async function serveDashboard(bundleDir: string): Promise<DashboardServer> {
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, type: string, body: string | Buffer): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    try {
      if (url.pathname === '/') {
        const theme = url.searchParams.get('theme') === 'dark' ? 'dark' : 'light';
        const origin = `http://${request.headers.host}`;
        send(200, 'text/html; charset=utf-8', dashboardHtml({
          cspSource: origin,
          nonce: makeNonce(),
          scriptUri: `${origin}/dist/main.js`,
          styleUri: `${origin}/media/dashboard.css`,
          preludeScriptUris: [`${origin}/test/stub.js`],
          extraStyleUris: [`${origin}/test/theme-${theme}.css`],
          bodyClass: theme === 'dark' ? 'vscode-dark' : 'vscode-light',
        }));
      } else if (url.pathname === '/dist/main.js') {
        send(200, 'text/javascript', readFileSync(join(bundleDir, 'main.js')));
      } else if (url.pathname === '/test/stub.js') {
        send(200, 'text/javascript', STUB);
      } else if (/^\/test\/theme-(light|dark)\.css$/.test(url.pathname)) {
        send(200, 'text/css', themeCss(url.pathname.includes('dark') ? 'dark' : 'light'));
      } else if (url.pathname.startsWith('/media/')) {
        const path = normalize(join(ROOT, url.pathname));
        if (!path.startsWith(join(ROOT, 'media'))) return send(403, 'text/plain', 'forbidden');
        send(200, path.endsWith('.css') ? 'text/css' : 'application/octet-stream', readFileSync(path));
      } else {
        send(404, 'text/plain', 'not found');
      }
    } catch (error) {
      send(500, 'text/plain', String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export interface OpenedDashboard {
  readonly page: Page;
  readonly dialogs: string[];
  readonly pageErrors: string[];
  readonly consoleErrors: string[];
}

export interface OpenOptions {
  readonly theme?: 'light' | 'dark';
  readonly state?: unknown;
  readonly width?: number;
  readonly height?: number;
}

export async function openDashboard(browser: Browser, origin: string, options: OpenOptions = {}): Promise<OpenedDashboard> {
  const page = await browser.newPage({ viewport: { width: options.width ?? 1400, height: options.height ?? 900 } });
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  const params = new URLSearchParams({ theme: options.theme ?? 'light' });
  if (options.state !== undefined) params.set('state', JSON.stringify(options.state));
  await page.goto(`${origin}/?${params}`);
  await page.waitForFunction(() => (window as unknown as { __posted: unknown[] }).__posted.length > 0);
  return { page, dialogs, pageErrors, consoleErrors };
}

export async function hostPost(page: Page, message: HostMessage): Promise<void> {
  await page.evaluate((m) => (window as unknown as { __hostPost(m: unknown): void }).__hostPost(m), message);
}

export async function posted(page: Page): Promise<WebviewMessage[]> {
  return page.evaluate(() => (window as unknown as { __posted: WebviewMessage[] }).__posted);
}

/** Waits until the webview has posted at least `count` messages (Chart.js handles clicks on its next frame). */
export async function waitForPosted(page: Page, count = 1): Promise<WebviewMessage[]> {
  await page.waitForFunction((n) => (window as unknown as { __posted: unknown[] }).__posted.length >= n, count);
  return posted(page);
}

export async function clearPosted(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __posted: unknown[] }).__posted.length = 0;
  });
}

/** Waits until the app has rendered up to `seq` (it stamps #root after each frame's work). */
export async function waitRendered(page: Page, seq: number): Promise<void> {
  await page.waitForFunction((s) => Number(document.getElementById('root')?.dataset.renderedSeq ?? 0) >= s, seq);
}

/**
 * Waits until the candidate grid's `column` cells read exactly `expected`, top to bottom, and returns them. A filter
 * applies on the next animation frame, so until then the grid still shows the previous rows: waiting for "some rows"
 * can read those stale rows; waiting for the expected text cannot.
 */
export async function waitForColumn(page: Page, column: string, expected: readonly string[]): Promise<string[]> {
  await page.waitForFunction(
    ({ column, expected }) => {
      const cells = [...document.querySelectorAll(`.grid-body .grid-row .col-${column}`)].map((cell) => cell.textContent ?? '');
      return cells.length === expected.length && cells.every((text, i) => text === expected[i]);
    },
    { column, expected },
  );
  return page.$$eval(`.grid-body .grid-row .col-${column}`, (cells) => cells.map((cell) => cell.textContent ?? ''));
}

export async function violations(page: Page): Promise<unknown[]> {
  return page.evaluate(() => (window as unknown as { __violations: unknown[] }).__violations);
}

/** One dashboard server and one Chromium for a test file, started before its tests and closed after them; `open`
 *  opens a fresh dashboard page in them. */
/** The datasets of the chart drawn on `canvas[data-chart=name]`, as Chart.js holds them. */
export async function chartData(page: Page, chart: string): Promise<{ label: string; data: { x: number; y: number }[] }[]> {
  return page.evaluate((name) => {
    const Chart = (window as unknown as { __archloopChart: { getChart(c: HTMLCanvasElement): { data: { datasets: { label: string; data: { x: number; y: number }[] }[] } } | undefined } }).__archloopChart;
    const instance = Chart.getChart(document.querySelector(`canvas[data-chart=${name}]`) as HTMLCanvasElement);
    return (instance?.data.datasets ?? []).map((d) => ({ label: d.label, data: d.data.map((p) => ({ x: p.x, y: p.y })) }));
  }, chart);
}

/** Picks `value` in the toolkit dropdown with that test id, as a user clicks it. */
export async function pickOption(page: Page, dropdownTestId: string, value: string): Promise<void> {
  await page.click(`[data-testid=${dropdownTestId}]`);
  await page.click(`[data-testid=${dropdownTestId}] vscode-option[value="${value}"]`);
}

export function dashboardSuite(): { open(options?: OpenOptions): Promise<OpenedDashboard> } {
  let browser: Browser | undefined;
  let server: DashboardServer | undefined;
  before(async () => {
    server = await serveDashboard(await buildWebview());
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  return {
    open: (options = {}) => {
      if (!browser || !server) throw new Error('dashboardSuite: open() called outside a test');
      return openDashboard(browser, server.origin, options);
    },
  };
}
