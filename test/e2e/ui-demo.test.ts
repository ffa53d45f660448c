// ArchLoop's UI in real VS Code (code-server + Chromium) driving the real backend in local mode: connect to Local,
// start the embedded `demo` run, and check the live tab, the tree, the status bar, a CodeLens verdict that reaches
// the run's SQLite store, and the nearest-neighbour diff editor. Screenshots go to artifacts/e2e/ui-demo/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, VsCodeHarness } from './harness.js';

const skip = e2eSkipReason();
const REPO = resolve(__dirname, '..', '..');
const PYTHON = join(REPO, 'remote-python', '.venv', 'bin', 'python');

describe('ArchLoop UI on the embedded demo (code-server + Chromium + local backend)', { skip, timeout: 1_500_000 }, () => {
  let vscode: VsCodeHarness | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'archloop-ui-e2e-'));
  const runRoot = join(scratch, 'runs');
  const corpus = join(scratch, 'corpus');
  const vs = (): VsCodeHarness => {
    assert.ok(vscode, 'the workbench did not start (see the before() hook error)');
    return vscode;
  };

  const treeRows = (): Promise<string[]> => vs().sideBarTreeRows();
  const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => vs().waitFor(what, probe, timeoutMs);

  /** The dashboard's content frame (the only webview this session opens). */
  const dashboard = () => vs().webviewContent();

  /** Candidate ids of the dashboard's rendered grid rows (all of them: the demo's few rows fit in the window). */
  async function dashboardRowIds(): Promise<string[]> {
    return (await dashboard().locator('.grid-body .grid-row .col-id').allInnerTexts()).map((text) => text.trim()).filter(Boolean);
  }

  /** Waits until every chart canvas the shown view displays has its size (Chart.js sizes on the next frames). A chart
   *  whose section is hidden (the re-check plot before any re-check) has no size to wait for. */
  async function chartsSized(): Promise<void> {
    await waitFor('charts sized', async () => {
      const sizes = await dashboard().locator('vscode-panel-view:not([hidden]) canvas:visible').evaluateAll((nodes) => nodes.map((node) => (node as unknown as { width: number }).width));
      return sizes.every((width) => width > 0) ? true : undefined;
    }, 15_000);
    await vs().page.waitForTimeout(300);
  }

  function storeVerdicts(): { id: string; verdict: string | null }[] {
    const runDir = join(runRoot, readdirSync(runRoot).filter((name) => name.startsWith('run-'))[0] ?? 'missing');
    const out = execFileSync(PYTHON, [
      '-c',
      'import sqlite3, sys, json; db = sqlite3.connect(sys.argv[1]); print(json.dumps([{"id": r[0], "verdict": r[1]} for r in db.execute("select id, verdict from candidates")]))',
      join(runDir, 'run.sqlite'),
    ]);
    return JSON.parse(out.toString()) as { id: string; verdict: string | null }[];
  }

  /** Reads the run's store with the venv's Python: `sql`'s rows as JSON arrays. */
  function storeRows(sql: string): unknown[][] {
    const runDir = join(runRoot, readdirSync(runRoot).filter((name) => name.startsWith('run-'))[0] ?? 'missing');
    const out = execFileSync(PYTHON, ['-c', 'import sqlite3, sys, json; print(json.dumps([list(r) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]))', join(runDir, 'run.sqlite'), sql]);
    return JSON.parse(out.toString()) as unknown[][];
  }

  before(async () => {
    // Warm the demo model cache so the run's first candidate streams within a minute (a no-op once built).
    execFileSync(PYTHON, ['-m', 'archloop', 'prepare-demo'], {
      timeout: 600_000,
      stdio: 'ignore',
    });
    vscode = await VsCodeHarness.start({
      name: 'ui-demo',
      settings: {
        'archloop.local.python': PYTHON,
        'archloop.local.runRoot': runRoot,
        'archloop.corpusPath': corpus,
        'archloop.followMode': 'live',
        // A known starting theme, and the one "Toggle between Light/Dark Themes" goes to (the high-contrast test).
        'workbench.colorTheme': 'Default Light Modern',
        'workbench.preferredDarkColorTheme': 'Default High Contrast',
      },
    });
  }, { timeout: 600_000 });

  after(async () => {
    for (const name of (() => {
      try {
        return readdirSync(runRoot);
      } catch {
        return [];
      }
    })()) {
      try {
        execFileSync(PYTHON, ['-m', 'archloop', 'stop', '--run-dir', join(runRoot, name), '--wait', '30'], { timeout: 60_000, stdio: 'ignore' });
      } catch {
        // already stopped, or never started
      }
    }
    await vscode?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('lists the ArchLoop commands in the palette, and hides run commands until a run is attached', async () => {
    for (const title of ['ArchLoop: Connect to Host…', 'ArchLoop: Start Run…', 'ArchLoop: Open Dashboard', 'ArchLoop: Check Host (doctor)', 'ArchLoop: Show Backend Log']) {
      const rows = await vs().paletteEntries(title);
      assert.ok(rows.includes(title), `${title} not in ${JSON.stringify(rows)}`);
    }
    const pause = await vs().paletteEntries('ArchLoop: Pause Run', 3_000);
    assert.ok(!pause.includes('ArchLoop: Pause Run'), `Pause Run shown before any run: ${JSON.stringify(pause)}`);
  });

  it('connects to Local and starts the demo run: a live tab opens and its text grows', async () => {
    await vs().runCommandThenPick('ArchLoop: Connect to Host', 'Local');
    await vs().waitForStatusBarText(/ArchLoop: Local/, 30_000);
    await vs().runCommandThenPick('ArchLoop: Start Run', 'demo');
    await vs().waitForStatusBarText(/ArchLoop: (starting|cycle)/, 60_000);
    const { first, later } = await vs().liveTabGrowth({ open: 240_000, code: 180_000, grow: 120_000 }, { early: 'live-tab-early', later: 'live-tab-later' });
    assert.notEqual(later, first);
  });

  it('shows progress in the status bar', async () => {
    // The cycle, what the loop is doing in it, and the running time; the demo may be past cycle 1 by now.
    const text = await vs().waitForStatusBarText(/ArchLoop: cycle [1-3]\/3 · (generating \d+\/6|evaluating|selecting|fine-tuning)\b.* · (\d+h \d+m|(\d+m )?\d+s)\b/, 60_000);
    assert.match(text, /cycle [1-3]\/3/);
  });

  it('fills the Runs tree with hosts, the run, its cycle and candidates', async () => {
    await vs().page.locator('.activitybar .action-item a[aria-label^="ArchLoop"], .activitybar .action-item[aria-label^="ArchLoop"]').first().click();
    const rows = await waitFor('candidate rows in the tree', async () => {
      const listed = await treeRows();
      // A row that had no children when first shown stays collapsed in VS Code: open it as a user would.
      const collapsed = vs().page.locator('#workbench\\.parts\\.sidebar .monaco-list-row[aria-expanded="false"]');
      if ((await collapsed.count()) > 0) await collapsed.first().click();
      return listed.some((row) => /^c\d+-\d{4}/.test(row)) ? listed : undefined;
    }, 60_000);
    await vs().screenshot('runs-tree');
    assert.ok(rows.some((row) => row.startsWith('Local')), JSON.stringify(rows));
    assert.ok(rows.some((row) => row.startsWith('demo')), JSON.stringify(rows));
  });

  it('Accept from the CodeLens reaches the backend store and shows in the tree and the tab header', async () => {
    const page = vs().page;
    // A candidate whose code is final when there is one. VS Code asks for a tab's CodeLenses again only once its text
    // has been still for a debounce that grows with the extension host's latency; on a loaded 2-core machine that can
    // outlast the pause between two updates of a streaming candidate, and its lenses then appear when streaming ends.
    const listed = await treeRows();
    const row = listed.find((text) => /^c\d+-\d{4}/.test(text) && !/generating/.test(text)) ?? listed.find((text) => /^c\d+-\d{4}/.test(text));
    assert.ok(row, 'no candidate row in the tree');
    const id = /^c\d+-\d{4}/.exec(row)?.[0] as string;
    await page.locator('#workbench\\.parts\\.sidebar .monaco-list-row', { hasText: id }).first().click();
    await page.locator('.tabs-container .tab', { hasText: `${id}.py` }).first().waitFor({ timeout: 30_000 });
    const lens = page.locator('.editor-group-container.active .codelens-decoration a', { hasText: 'Accept' }).first();
    await waitFor(`the Accept lens on ${id}`, async () => ((await lens.isVisible()) ? true : undefined), 150_000);
    await lens.click();
    await waitFor('accept in the store', async () => (storeVerdicts().some((r) => r.id === id && r.verdict === 'accept') ? true : undefined), 30_000);
    const rows = await waitFor('accepted in the tree', async () => {
      const listed = await treeRows();
      return listed.some((text) => text.startsWith(id) && text.includes('accepted')) ? listed : undefined;
    }, 30_000);
    assert.ok(rows.length > 0);
    await waitFor('verdict in the tab header', async () => ((await vs().activeEditorText()).includes('verdict: accept') ? true : undefined), 30_000);
    await vs().screenshot('accepted');
  });

  it('clicking the status bar opens the dashboard webview', async () => {
    const page = vs().page;
    await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: 'ArchLoop: cycle' }).first().click();
    await page.locator('.tabs-container .tab', { hasText: 'ArchLoop Dashboard' }).first().waitFor({ timeout: 30_000 });
    await page.locator('iframe.webview').first().waitFor({ timeout: 30_000 });
    // The webview renders its snapshot after `ready`; its charts size themselves a frame or two later.
    await dashboard().locator('#root[data-state=ready]').waitFor({ timeout: 60_000 });
    await chartsSized();
    await vs().screenshot('dashboard');
  });

  it('the dashboard shows live rows matching the run\'s store in each of its views', async () => {
    for (const view of ['cycles', 'novelty', 'live', 'candidates'] as const) {
      await dashboard().locator(`[data-testid=tab-${view}]`).click();
      await dashboard().locator(`#view-${view} .${view}-view`).waitFor({ state: 'visible', timeout: 30_000 });
      await chartsSized();
      await vs().screenshot(`dashboard-${view}`);
    }
    // The live view follows the run: its stage line names what the loop is doing.
    await dashboard().locator('[data-testid=tab-live]').click();
    assert.notEqual((await dashboard().locator('[data-testid=live-stage]').innerText()).trim(), '', 'the live view shows no stage');
    await dashboard().locator('[data-testid=tab-candidates]').click();
    // Both sides grow while the run generates: poll until the dashboard's rows are exactly the store's candidates.
    const matched = await waitFor('dashboard rows = store candidates', async () => {
      const shown = (await dashboardRowIds()).sort();
      const stored = storeVerdicts().map((row) => row.id).sort();
      return shown.length > 0 && JSON.stringify(shown) === JSON.stringify(stored) ? shown : undefined;
    }, 60_000);
    assert.ok(matched.every((id) => /^c\d+-\d{4}$/.test(id)), JSON.stringify(matched));
  });

  it('Reject from the dashboard reaches the backend store, the Runs tree and the dashboard row', async () => {
    // A candidate without a verdict (the CodeLens test accepted another one); validity does not matter.
    const acceptedBefore = storeVerdicts().filter((row) => row.verdict === 'accept').map((row) => row.id);
    const id = await waitFor('a candidate without a verdict', async () => {
      const shown = new Set(await dashboardRowIds());
      return storeVerdicts().find((row) => row.verdict === null && shown.has(row.id))?.id;
    }, 120_000);
    const row = dashboard().locator('.grid-body .grid-row', { has: dashboard().locator('.col-id', { hasText: new RegExp(`^${id}$`) }) });
    await row.locator('[data-action=reject]').click();
    await waitFor('reject in the store', async () => (storeVerdicts().some((r) => r.id === id && r.verdict === 'reject') ? true : undefined), 30_000);
    await waitFor('rejected in the tree', async () => ((await treeRows()).some((text) => text.startsWith(id) && text.includes('rejected')) ? true : undefined), 30_000);
    await waitFor('reject in the dashboard row', async () => ((await row.getAttribute('data-verdict')) === 'reject' ? true : undefined), 30_000);
    assert.equal((await row.locator('.col-verdict').innerText()).trim(), 'reject');
    assert.match(await dashboard().locator('[data-testid=notice]').innerText(), new RegExp(`verdict ${id}: done`));
    // Only the addressed row changed: candidates accepted before (from the CodeLens) kept their verdict.
    const after = storeVerdicts();
    for (const accepted of acceptedBefore) assert.ok(after.some((r) => r.id === accepted && r.verdict === 'accept'), JSON.stringify(after));
    assert.deepEqual(after.filter((r) => r.verdict === 'reject').map((r) => r.id), [id]);
    await vs().screenshot('dashboard-rejected');
  });

  it('Compare with Nearest Neighbour opens the diff editor titled with the Jaccard score', async (t) => {
    const page = vs().page;
    // The nearest neighbour is known once the novelty filter ran on a VALID generated candidate: the tree then shows
    // "J 0.xx" in its description. The tiny demo model on a loaded 2-core machine may write none in the time this
    // suite can afford; then this test is skipped with that reason (it fails if a neighbour exists and no diff opens).
    let row: string | undefined;
    const deadline = Date.now() + 240_000;
    while (!row && Date.now() < deadline) {
      row = (await treeRows()).find((text) => /^c\d+-\d{4}.* J \d\.\d\d/.test(text));
      if (!row) {
        const collapsed = page.locator('#workbench\\.parts\\.sidebar .monaco-list-row[aria-expanded="false"]');
        if ((await collapsed.count()) > 0) await collapsed.first().click();
        await page.waitForTimeout(2000);
      }
    }
    if (!row) {
      await vs().screenshot('no-nearest-yet');
      t.skip('no valid candidate with a nearest neighbour within 240 s (demo model on a loaded CPU)');
      return;
    }
    const id = /^c\d+-\d{4}/.exec(row)?.[0] as string;
    await page.locator('#workbench\\.parts\\.sidebar .monaco-list-row', { hasText: id }).first().click();
    await page.locator('.tabs-container .tab', { hasText: `${id}.py` }).first().waitFor({ timeout: 30_000 });
    const lens = page.locator('.editor-group-container.active .codelens-decoration a', { hasText: 'Diff with nearest' }).first();
    await lens.waitFor({ timeout: 30_000 });
    await vs().screenshot('candidate-tab-with-lens');
    await lens.click();
    const tab = page.locator('.tabs-container .tab', { hasText: 'Jaccard' }).first();
    await tab.waitFor({ timeout: 30_000 });
    await page.locator('.editor-group-container.active .monaco-diff-editor').first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1000); // let both sides render for the screenshot
    await vs().screenshot('nearest-diff');
    assert.match((await tab.innerText()).replace(/\s+/g, ' '), new RegExp(`↔ ${id} \\(Jaccard 0\\.\\d{3}\\)`));
  });

  it('the dashboard, shown again, follows a switch to the high-contrast themes (dark, then light)', async () => {
    const page = vs().page;
    // Back to the dashboard: a hidden webview drops its DOM and rebuilds from its saved view state and a fresh snapshot.
    await page.locator('.tabs-container .tab', { hasText: 'ArchLoop Dashboard' }).first().click();
    await dashboard().locator('#root[data-state=ready]').waitFor({ timeout: 60_000 });
    await dashboard().locator('#view-candidates .candidates-view').waitFor({ state: 'visible', timeout: 30_000 });
    // The rebuilt page kept its selection (the row rejected above); running palette commands must not change it.
    const rejected = storeVerdicts().find((row) => row.verdict === 'reject')?.id;
    assert.ok(rejected, 'no rejected candidate in the store');
    const detail = dashboard().locator('[data-testid=candidate-detail] h3');
    assert.match(await detail.innerText(), new RegExp(`· ${rejected} · .*rejected`));
    // The user settings make "dark" the dark high-contrast theme; from a high-contrast theme the toggle goes to its light twin.
    for (const [workbenchClass, bodyClass, name] of [
      ['hc-black', 'vscode-high-contrast', 'hc-dark'],
      ['hc-light', 'vscode-high-contrast-light', 'hc-light'],
    ] as const) {
      await vs().runCommand('Preferences: Toggle between Light/Dark Themes');
      await page.locator(`.monaco-workbench.${workbenchClass}`).waitFor({ timeout: 30_000 });
      await dashboard().locator(`body.${bodyClass}`).waitFor({ timeout: 30_000 });
      for (const view of ['candidates', 'cycles'] as const) {
        await dashboard().locator(`[data-testid=tab-${view}]`).click();
        await chartsSized();
        await page.waitForTimeout(500); // the charts restyle on the body's class change
        await vs().screenshot(`dashboard-${view}-${name}`);
      }
      // High-contrast themes draw borders: the grid's comes from the theme's contrast border, not `transparent`.
      await dashboard().locator('[data-testid=tab-candidates]').click();
      const border = await dashboard().locator('[data-testid=candidate-grid]').evaluate((grid) => getComputedStyle(grid).borderTopColor);
      assert.notEqual(border, 'rgba(0, 0, 0, 0)', `${name}: the candidate grid has no visible border`);
      assert.ok((await dashboardRowIds()).length > 0, `${name}: no candidate rows`);
      assert.match(await detail.innerText(), new RegExp(`· ${rejected} · `), `${name}: the selection changed`);
    }
  });

  it('edit and resubmit: refused code is marked at its line; a new net is evaluated, accepted, and in the next fine-tune set', async () => {
    const page = vs().page;
    // A refused edit: Edit as New Candidate on a finished candidate, a forbidden import typed at the top, Submit.
    const row = (await treeRows()).find((text) => /^c\d+-\d{4}/.test(text) && !/generating|started/.test(text));
    assert.ok(row, 'no finished candidate in the tree');
    const parent = /^c\d+-\d{4}/.exec(row)?.[0] as string;
    await page.locator('#workbench\\.parts\\.sidebar .monaco-list-row', { hasText: parent }).first().click();
    await page.locator('.tabs-container .tab', { hasText: `${parent}.py` }).first().waitFor({ timeout: 30_000 });
    const edit = page.locator('.editor-group-container.active .codelens-decoration a', { hasText: 'Edit as New Candidate' }).first();
    await waitFor('the Edit as New Candidate lens', async () => ((await edit.isVisible()) ? true : undefined), 120_000);
    await edit.click();
    await page.locator('.tabs-container .tab.active', { hasText: 'Untitled' }).first().waitFor({ timeout: 30_000 });
    await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.insertText('import subprocess\n');
    await vs().runCommand('ArchLoop: Submit as Candidate');
    await waitFor('the check\'s error marked in the editor', async () => ((await page.locator('.editor-group-container.active .squiggly-error').count()) > 0 ? true : undefined), 60_000);
    const refused = await waitFor('the refusal', async () => (await vs().notifications()).find((text) => text.includes('not submitted')), 30_000);
    assert.match(refused, /the check found 1 problem \(contract_error\)/);
    await vs().screenshot('submit-diagnostics');
    assert.equal(storeRows("select count(*) from candidates where origin = 'human'")[0]?.[0], 0, 'refused code is not stored');

    // A new net written in a file of the workspace: submitted, stored as human-written, accepted from its tab.
    copyFileSync(join(REPO, 'test', 'e2e', 'fixtures', 'human-net.py'), join(vs().workspaceFolder, 'gated_pyramid.py'));
    await vs().openFile('gated_pyramid.py');
    await vs().runCommand('ArchLoop: Submit as Candidate');
    const submitted = await waitFor('the submission', async () => (await vs().notifications()).find((text) => /submitted c\d+-\d{4} to cycle \d+/.test(text)), 60_000);
    const match = /submitted (c\d+-\d{4}) to cycle (\d+)/.exec(submitted);
    const id = match?.[1] ?? '';
    const cycleText = match?.[2] ?? '';
    assert.deepEqual(storeRows(`select origin, parent from candidates where id = '${id}'`), [['human', null]]);
    await page.locator('.notifications-toasts .notification-list-item', { hasText: `submitted ${id}` }).locator('a.monaco-button, .monaco-button', { hasText: 'Open' }).first().click();
    await page.locator('.tabs-container .tab', { hasText: `${id}.py` }).first().waitFor({ timeout: 30_000 });
    const accept = page.locator('.editor-group-container.active .codelens-decoration a', { hasText: 'Accept' }).first();
    await waitFor(`the Accept lens on ${id}`, async () => ((await accept.isVisible()) ? true : undefined), 120_000);
    await accept.click();
    await waitFor('accept in the store', async () => (storeRows(`select verdict from candidates where id = '${id}'`)[0]?.[0] === 'accept' ? true : undefined), 30_000);
    const acceptedAt = Number(storeRows("select max(seq) from events where kind = 'candidate.verdict'")[0]?.[0]);
    // One more cycle, so the cycle it joined runs even when it is the one after the run's last.
    await vs().runCommandWithInput('ArchLoop: Run Next Cycles…', '1');
    await waitFor('human-written in the tree', async () => ((await treeRows()).some((text) => text.startsWith(id) && text.includes('human-written')) ? true : undefined), 60_000);

    // It goes through the sandbox in cycle `cycleText`, and the first fine-tune after the verdict trains on it.
    const evaluated = await waitFor(`${id} evaluated`, async () => {
      const [result] = storeRows(`select eval_outcome, accuracy from candidates where id = '${id}'`);
      return result && result[0] !== null ? result : undefined;
    }, 600_000);
    assert.equal(evaluated[0], 'ok', `${id} trained in the sandbox: ${JSON.stringify(evaluated)}`);
    assert.equal(typeof evaluated[1], 'number');
    // The fine-tune at the end of the cycle it joined (the first whose set can hold it): a fine-tune still running for
    // an earlier cycle when the verdict came was trained on the set as it was when it began.
    const finetune = await waitFor('the next fine-tune', async () => storeRows(`select data from events where kind = 'finetune.done' and seq > ${acceptedAt} and json_extract(data, '$.cycle') >= ${Number(cycleText)} order by seq limit 1`)[0], 600_000);
    const origins = (JSON.parse(String(finetune[0])) as { pairsByOrigin: Record<string, number> }).pairsByOrigin;
    assert.ok((origins['human'] ?? 0) >= 1 && (origins['accepted'] ?? 0) >= 1, `trained on the accepted human-written net: ${JSON.stringify(origins)} (it joined cycle ${cycleText})`);
    // The cycle ends right after its fine-tune: its notification carries the cycle's row of the table.
    const cycle = (JSON.parse(String(finetune[0])) as { cycle: number }).cycle;
    const note = await waitFor(`the cycle ${cycle} notification`, async () => (await vs().notifications()).find((text) => text.includes(`cycle ${cycle} of `) && text.includes('finished')), 120_000);
    assert.match(note, /valid/);
    await vs().screenshot('notification-cycle-finished');
  });
});
