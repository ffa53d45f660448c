// ArchLoop's UI in real VS Code (code-server + Chromium) against a real SSH host: a private sshd on loopback (its own
// host key, a client key authorised for this user; ~/.ssh is neither read nor written: the extension is pointed at a
// temp SSH config and known_hosts through its settings). Connect to Host… → the unknown host key is shown with its
// fingerprint in a modal and accepted there → the backend is uploaded over SFTP and checked → Start Run… demo → the
// live tab grows → known_hosts holds the server's key. Then a host whose key differs from the one known_hosts holds is
// refused with the man-in-the-middle warning before any credential is sent. The remote "host" is this machine; the
// project's venv is named as the host's Python (archloop.remote.python), so nothing is pip-installed.
// Screenshots go to artifacts/e2e/ui-ssh/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeKey, startSshd, type KeyPair, type Sshd } from '../helpers/sshd.js';
import { e2eSkipReason, VsCodeHarness } from './harness.js';

const skip = e2eSkipReason();
const REPO = resolve(__dirname, '..', '..');
const PYTHON = join(REPO, 'remote-python', '.venv', 'bin', 'python');
/** An SSH config alias for the server whose key the user is asked to trust. */
const GOOD = 'archloop-e2e-good';
/** An alias for a second server whose key is not the one known_hosts holds for it. */
const REKEYED = 'archloop-e2e-rekeyed';

describe('ArchLoop UI on an SSH host (code-server + Chromium + private sshd)', { skip, timeout: 900_000 }, () => {
  let vscode: VsCodeHarness | undefined;
  let sshd: Sshd | undefined;
  let rekeyed: Sshd | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'archloop-ssh-e2e-'));
  const knownHosts = join(scratch, 'known_hosts');
  const runRoot = join(scratch, 'runs');
  const backendRoot = join(scratch, 'backend');
  let seededLine = '';
  const vs = (): VsCodeHarness => {
    assert.ok(vscode, 'the workbench did not start (see the before() hook error)');
    return vscode;
  };
  const server = (): Sshd => {
    assert.ok(sshd, 'sshd did not start');
    return sshd;
  };

  const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => vs().waitFor(what, probe, timeoutMs);

  function fingerprint(key: KeyPair): string {
    const line = execFileSync('ssh-keygen', ['-lf', `${key.privatePath}.pub`]).toString();
    const match = /SHA256:\S+/.exec(line);
    assert.ok(match, line);
    return match[0];
  }

  function hostBlock(alias: string, port: number, identity: string): string[] {
    return [`Host ${alias}`, '  HostName 127.0.0.1', `  Port ${port}`, `  User ${server().user}`, `  IdentityFile ${identity}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`, ''];
  }

  before(async () => {
    // Warm the demo model cache so the run's first candidate streams soon (a no-op once built).
    execFileSync(PYTHON, ['-m', 'archloop', 'prepare-demo'], {
      timeout: 600_000,
      stdio: 'ignore',
    });
    sshd = await startSshd({ dir: scratch, name: 'good' });
    rekeyed = await startSshd({ dir: scratch, name: 'rekeyed' });
    const client = makeKey(scratch, 'client');
    sshd.authorize(client.publicLine);
    rekeyed.authorize(client.publicLine);
    // What known_hosts held for the second server before "its key changed": the first server's key.
    seededLine = `[127.0.0.1]:${rekeyed.port} ${sshd.hostKey.publicLine.split(/\s+/).slice(0, 2).join(' ')}`;
    writeFileSync(knownHosts, `${seededLine}\n`);
    const sshConfig = join(scratch, 'ssh_config');
    writeFileSync(sshConfig, [...hostBlock(GOOD, sshd.port, client.privatePath), ...hostBlock(REKEYED, rekeyed.port, client.privatePath)].join('\n'));
    vscode = await VsCodeHarness.start({
      name: 'ui-ssh',
      settings: {
        'archloop.ssh.configFile': sshConfig,
        'archloop.ssh.knownHostsFile': knownHosts,
        'archloop.remote.python': PYTHON,
        'archloop.remote.backendRoot': backendRoot,
        'archloop.remote.runRoot': runRoot,
        'archloop.corpusPath': join(scratch, 'corpus'),
        'archloop.followMode': 'live',
      },
    });
  }, { timeout: 600_000 });

  after(async () => {
    const runs = existsSync(runRoot) ? readdirSync(runRoot).filter((name) => name.startsWith('run-')) : [];
    for (const name of runs) {
      try {
        execFileSync(PYTHON, ['-m', 'archloop', 'stop', '--run-dir', join(runRoot, name), '--wait', '30'], { timeout: 60_000, stdio: 'ignore' });
      } catch {
        // already stopped, or never started
      }
    }
    await vscode?.close();
    await rekeyed?.stop();
    await sshd?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('Connect to Host… shows the unknown host key with its fingerprint; accepting it deploys the backend over SFTP', async () => {
    const page = vs().page;
    // The aliases come from the SSH config named in the settings.
    await vs().runCommandThenPick('ArchLoop: Connect to Host', GOOD);
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 60_000 });
    const text = (await dialog.innerText()).replace(/\s+/g, ' ');
    await vs().screenshot('host-key-prompt');
    assert.match(text, /unknown host key for 127\.0\.0\.1/);
    assert.ok(text.includes(`Fingerprint: ${fingerprint(server().hostKey)}`), text);
    assert.ok(text.includes(knownHosts), `the prompt names the known_hosts file it will write: ${text}`);
    await dialog.locator('.dialog-buttons a.monaco-button, .dialog-buttons .monaco-button', { hasText: 'Trust and Connect' }).first().click();
    await vs().waitForStatusBarText(new RegExp(`ArchLoop: ${GOOD} · no run`), 150_000);
    await vs().screenshot('connected');

    // Accepted: the server's key, under the name OpenSSH uses for a non-22 port, beside the line that was there.
    const lines = readFileSync(knownHosts, 'utf8').trim().split('\n');
    const blob = server().hostKey.publicLine.split(/\s+/)[1] as string;
    assert.ok(lines.includes(seededLine), lines.join('\n'));
    assert.ok(lines.some((line) => line.startsWith(`[127.0.0.1]:${server().port} ssh-ed25519 ${blob}`)), lines.join('\n'));
    // Deployed over SFTP into the configured root: one versioned folder, complete (its marker is written last).
    const versions = existsSync(backendRoot) ? readdirSync(backendRoot) : [];
    assert.equal(versions.length, 1, JSON.stringify(versions));
    assert.equal(readFileSync(join(backendRoot, versions[0] as string, '.archloop-uploaded'), 'utf8').trim(), versions[0]);
    assert.match(server().log(), /Accepted publickey for/);
  });

  it('Start Run… demo on the SSH host: a live tab opens and its text grows', async () => {
    await vs().runCommandThenPick('ArchLoop: Start Run', 'demo');
    await vs().waitForStatusBarText(/ArchLoop: (starting|cycle)/, 90_000);
    const { first, later } = await vs().liveTabGrowth({ open: 150_000, code: 150_000, grow: 90_000 }, { later: 'live-tab' });
    assert.notEqual(later, first);
    // The run lives where the settings put it on the host, and the tree names the SSH host.
    assert.ok(readdirSync(runRoot).some((name) => name.startsWith('run-')), readdirSync(runRoot).join(' '));
    assert.match(await vs().waitForStatusBarText(/ArchLoop: cycle 1\/3/, 30_000), /cycle 1\/3/);
  });

  it('a host whose key is not the one known_hosts holds is refused with the man-in-the-middle warning', async () => {
    const page = vs().page;
    await vs().runCommandThenPick('ArchLoop: Connect to Host', REKEYED);
    const error = await waitFor('the refusal notification', async () => (await vs().notifications()).find((message) => message.includes(`cannot connect to ${REKEYED}`)), 60_000);
    await vs().screenshot('host-key-changed');
    assert.match(error, /host key of \[127\.0\.0\.1\]:\d+ has changed/);
    assert.match(error, /man-in-the-middle attack/);
    assert.match(error, /Nothing was sent/);
    // An error notification, not a prompt: nothing asked the user to trust the new key.
    assert.equal(await page.locator('.notifications-toasts .notification-list-item .codicon-error').count() > 0, true, 'not shown as an error');
    assert.equal(await page.locator('.monaco-dialog-box').count(), 0, 'a trust prompt was shown for a changed key');
    // Nothing is left half-connected: the progress toast goes, and the host list still holds only the trusted host.
    await waitFor('the connecting toast to close', async () => ((await vs().notifications()).some((message) => message.includes(`connecting to ${REKEYED}`)) ? undefined : true), 30_000);
    assert.doesNotMatch(await vs().waitForStatusBarText(/ArchLoop:/), new RegExp(REKEYED));
    // known_hosts kept the old line and got no new one for that server; the server saw no authentication attempt.
    const lines = readFileSync(knownHosts, 'utf8').trim().split('\n');
    assert.deepEqual(lines.filter((line) => line.startsWith(`[127.0.0.1]:${rekeyed?.port} `)), [seededLine]);
    assert.doesNotMatch(rekeyed?.log() ?? '', /Accepted|Failed|Postponed|publickey/i);
  });
});
