// SshTransport against a real private OpenSSH server (test/helpers/sshd.ts): auth, host keys, ProxyJump, exec, SFTP, drops.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKey, signalIfAlive, startAgent, startSshd, type KeyPair, type Sshd } from '../helpers/sshd.js';
import { SshTransport, type OpenSshOptions } from '../../src/transport/sshTransport.js';
import { TransportError } from '../../src/transport/errors.js';
import { sha256Fingerprint } from '../../src/transport/knownHosts.js';
import type { HostKeyPrompt } from '../../src/transport/hostKeyCheck.js';

let sshd: Sshd;
let jump: Sshd;
let home = '';
let plainKey: KeyPair;
let encryptedKey: KeyPair;
let agentKey: KeyPair;

/** A fresh fake home with its own ~/.ssh/config; known_hosts starts with `knownHosts`. */
function makeHome(config: string[], knownHosts = ''): string {
  const dir = mkdtempSync(join(home, 'h-'));
  mkdirSync(join(dir, '.ssh'));
  writeFileSync(join(dir, '.ssh', 'config'), `${config.join('\n')}\n`);
  writeFileSync(join(dir, '.ssh', 'known_hosts'), knownHosts);
  return dir;
}

function hostBlock(alias: string, server: Sshd, extra: string[] = []): string[] {
  return [`Host ${alias}`, '  HostName 127.0.0.1', `  Port ${server.port}`, `  User ${server.user}`, ...extra.map((line) => `  ${line}`)];
}

function options(homeDir: string, extra: Partial<OpenSshOptions> = {}): OpenSshOptions {
  return { homeDir, env: {}, connectTimeoutMs: 10_000, ...extra };
}

function isCode(code: TransportError['code']) {
  return (error: unknown) => {
    assert.ok(error instanceof TransportError, `expected TransportError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

describe('SshTransport against a real sshd', () => {
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'archloop-ssh-it-'));
    [sshd, jump] = await Promise.all([startSshd(), startSshd()]);
    plainKey = makeKey(home, 'plain');
    encryptedKey = makeKey(home, 'encrypted', { passphrase: 'correct horse' });
    agentKey = makeKey(home, 'agent');
    for (const key of [plainKey, encryptedKey, agentKey]) {
      sshd.authorize(key.publicLine);
      jump.authorize(key.publicLine);
    }
  });
  after(async () => {
    await Promise.all([sshd?.stop(), jump?.stop()]);
    rmSync(home, { recursive: true, force: true });
  });

  it('authenticates with an identity file and runs a command', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const attempts: string[] = [];
    const transport = await SshTransport.open('gpu', options(h, { onAttempt: (what) => attempts.push(what) }));
    try {
      const result = await transport.run(['sh', '-c', 'echo "$1"; echo err >&2; exit 3', 'sh', 'hello world']);
      assert.deepEqual({ code: result.code, stdout: result.stdout, stderr: result.stderr }, { code: 3, stdout: 'hello world\n', stderr: 'err\n' });
      assert.deepEqual(attempts, [`key ${plainKey.privatePath}`]);
      assert.equal(transport.description, `${sshd.user}@127.0.0.1:${sshd.port}`);
    } finally {
      await transport.close();
    }
  });

  it('authenticates through ssh-agent (SSH_AUTH_SOCK)', async () => {
    const agent = startAgent(home);
    try {
      agent.add(agentKey.privatePath);
      const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${join(home, 'no-such-key')}`]), `${sshd.knownHostsLine()}\n`);
      const attempts: string[] = [];
      const transport = await SshTransport.open('gpu', { ...options(h, { onAttempt: (what) => attempts.push(what) }), env: { SSH_AUTH_SOCK: agent.socket } });
      await transport.close();
      assert.deepEqual(attempts, [`keys in ssh-agent (${agent.socket})`], 'the agent came first and was enough');
    } finally {
      agent.stop();
    }
  });

  it('asks for the passphrase of an encrypted key, and a wrong one ends in a clear auth error', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${encryptedKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const asked: number[] = [];
    const ok = await SshTransport.open('gpu', options(h, { passphrase: async ({ keyFile, attempt }) => (assert.equal(keyFile, encryptedKey.privatePath), asked.push(attempt), 'correct horse') }));
    await ok.close();
    assert.deepEqual(asked, [1]);

    const wrong: number[] = [];
    await assert.rejects(
      SshTransport.open('gpu', options(h, { passphrase: async ({ attempt }) => (wrong.push(attempt), 'wrong') })),
      (error: unknown) => {
        isCode('auth')(error);
        const message = (error as Error).message;
        assert.match(message, /wrong passphrase/);
        assert.ok(message.includes(encryptedKey.privatePath), message);
        assert.match(message, /The server accepts: publickey/);
        return true;
      },
    );
    assert.deepEqual(wrong, [1, 2, 3], 'asked three times like ssh');
    const disk = readFileSync(join(h, '.ssh', 'known_hosts'), 'utf8') + readFileSync(join(h, '.ssh', 'config'), 'utf8');
    assert.ok(!disk.includes('correct horse'), 'the passphrase is never written');
  });

  it('asks about an unknown host key, remembers it (hashed when configured), and does not ask again', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`, 'HashKnownHosts yes']));
    const prompts: HostKeyPrompt[] = [];
    const confirmHostKey = async (prompt: HostKeyPrompt) => (prompts.push(prompt), true);
    await (await SshTransport.open('gpu', options(h, { confirmHostKey }))).close();
    assert.equal(prompts.length, 1);
    assert.deepEqual(prompts[0], {
      host: '127.0.0.1',
      port: sshd.port,
      keyType: 'ssh-ed25519',
      fingerprint: sha256Fingerprint(sshd.hostKey.blob),
      knownHostsFile: join(h, '.ssh', 'known_hosts'),
      otherKeyTypes: [],
    });
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${sshd.hostKey.privatePath}.pub`]).toString();
    assert.ok(printed.includes(prompts[0]?.fingerprint ?? 'x'), 'the fingerprint is the one ssh-keygen shows');
    const remembered = readFileSync(join(h, '.ssh', 'known_hosts'), 'utf8');
    assert.match(remembered, /^\|1\|[^ ]+ ssh-ed25519 /, 'hashed as configured');
    assert.match(execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', join(h, '.ssh', 'known_hosts')]).toString(), /found: line 1/);

    await (await SshTransport.open('gpu', options(h, { confirmHostKey }))).close();
    assert.equal(prompts.length, 1, 'second connect did not ask');
  });

  it('refuses an unknown host when the user says no, or when there is nobody to ask', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]));
    await assert.rejects(SshTransport.open('gpu', options(h, { confirmHostKey: async () => false })), isCode('host_key_unknown_rejected'));
    await assert.rejects(SshTransport.open('gpu', options(h)), isCode('host_key_unknown_rejected'));
    assert.equal(readFileSync(join(h, '.ssh', 'known_hosts'), 'utf8'), '');
  });

  it('refuses a changed host key before authenticating, naming the file and line', async () => {
    const other = makeKey(mkdtempSync(join(home, 'k-')), 'impostor');
    const known = `# first line\n[127.0.0.1]:${sshd.port} ${other.publicLine.split(' ').slice(0, 2).join(' ')}\n`;
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${encryptedKey.privatePath}`]), known);
    const attempts: string[] = [];
    let passphraseAsked = false;
    await assert.rejects(
      SshTransport.open('gpu', options(h, { onAttempt: (what) => attempts.push(what), passphrase: async () => ((passphraseAsked = true), 'correct horse'), confirmHostKey: async () => true })),
      (error: unknown) => {
        isCode('host_key_changed')(error);
        const message = (error as Error).message;
        assert.match(message, /man-in-the-middle/);
        assert.ok(message.includes(`line 2 of ${join(h, '.ssh', 'known_hosts')}`), message);
        return true;
      },
    );
    assert.deepEqual(attempts, [], 'no authentication method was tried');
    assert.equal(passphraseAsked, false);
  });

  it('refuses a @revoked host key', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n@revoked * ${sshd.hostKey.publicLine}\n`);
    await assert.rejects(SshTransport.open('gpu', options(h, { confirmHostKey: async () => true })), isCode('host_key_revoked'));
  });

  it('matches known_hosts entries hashed by ssh-keygen -H', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', join(h, '.ssh', 'known_hosts')], { stdio: 'pipe' });
    assert.ok(!readFileSync(join(h, '.ssh', 'known_hosts'), 'utf8').includes('127.0.0.1'));
    let asked = false;
    await (await SshTransport.open('gpu', options(h, { confirmHostKey: async () => ((asked = true), true) }))).close();
    assert.equal(asked, false);
  });

  it('connects through a ProxyJump host (a second sshd) and checks both host keys', async () => {
    const h = makeHome(
      [...hostBlock('target', sshd, [`IdentityFile ${plainKey.privatePath}`, 'ProxyJump bastion']), ...hostBlock('bastion', jump, [`IdentityFile ${plainKey.privatePath}`])],
      `${sshd.knownHostsLine()}\n`,
    );
    const prompts: HostKeyPrompt[] = [];
    const transport = await SshTransport.open('target', options(h, { confirmHostKey: async (prompt) => (prompts.push(prompt), true) }));
    try {
      assert.deepEqual(prompts.map((p) => p.port), [jump.port], 'only the unknown jump host was asked about');
      assert.ok(jump.connectionPids().length > 0, 'the jump sshd holds a connection');
      const result = await transport.run(['printf', '%s', 'via jump']);
      assert.equal(result.stdout, 'via jump');
    } finally {
      await transport.close();
    }
  });

  it('reports a jump host that refuses to forward as channel_open', async () => {
    const strict = await startSshd({ extraConfig: ['AllowTcpForwarding no'] });
    try {
      strict.authorize(plainKey.publicLine);
      const h = makeHome(
        [...hostBlock('target', sshd, [`IdentityFile ${plainKey.privatePath}`, 'ProxyJump strict']), ...hostBlock('strict', strict, [`IdentityFile ${plainKey.privatePath}`])],
        `${sshd.knownHostsLine()}\n${strict.knownHostsLine()}\n`,
      );
      await assert.rejects(SshTransport.open('target', options(h)), isCode('channel_open'));
      assert.deepEqual(strict.connectionPids(), [], 'the jump connection was closed');
    } finally {
      await strict.stop();
    }
  });

  it('round-trips hostile argv, cwd and env through the remote login shell, and stdin to stdout', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const transport = await SshTransport.open('gpu', options(h));
    try {
      const hostile = ["it's", '$(id)', '`id`', 'a;b|c&d', '*', '-n', 'line\nbreak', 'ünï ✓ 🎉', '', 'back\\slash', '"q"'];
      const result = await transport.run(['/bin/sh', '-c', 'printf "%s\\0" "$@"; printf "%s|%s" "$PWD" "$X" >&2', 'p', ...hostile], { cwd: '/tmp', env: { X: "v'$x" } });
      assert.deepEqual(result.stdout.split('\0').slice(0, -1), hostile);
      assert.equal(result.stderr, "/tmp|v'$x");

      const echo = await transport.run(['cat'], { stdin: 'piped\nthrough\n' });
      assert.equal(echo.stdout, 'piped\nthrough\n');

      const lines: string[] = [];
      await transport.run(['sh', '-c', 'echo one; echo two'], { onStdoutLine: (line) => lines.push(line) });
      assert.deepEqual(lines, ['one', 'two']);
    } finally {
      await transport.close();
    }
  });

  it('moves files over SFTP: mkdirp, writeFile, stat, readFile, home', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const transport = await SshTransport.open('gpu', options(h));
    const base = mkdtempSync(join(home, 'sftp-'));
    try {
      const dir = join(base, 'a', 'b', 'c');
      await transport.mkdirp(dir);
      await transport.mkdirp(dir);
      await transport.writeFile(join(dir, 'f.txt'), 'content ✓', { mode: 0o600 });
      assert.deepEqual(await transport.stat(join(dir, 'f.txt')), { isFile: true, isDirectory: false, size: Buffer.byteLength('content ✓'), mode: 0o600 });
      assert.equal((await transport.readFile(join(dir, 'f.txt'))).toString(), 'content ✓');
      assert.equal(await transport.stat(join(dir, 'missing')), null);
      assert.equal((await transport.stat(dir))?.isDirectory, true);
      assert.equal(await transport.homeDir(), execFileSync('sh', ['-c', 'echo ~']).toString().trim());
      await assert.rejects(transport.writeFile('relative/path', 'x'), isCode('invalid_argument'));
      await assert.rejects(transport.mkdirp(join(dir, 'f.txt', 'sub')), isCode('file'));
    } finally {
      await transport.close();
    }
  });

  it('surfaces a dropped connection as `disconnected` promptly', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const before = new Set(sshd.connectionPids());
    const transport = await SshTransport.open('gpu', options(h));
    const disconnected: Error[] = [];
    transport.onDisconnect((error) => disconnected.push(error));
    const channel = await transport.exec(['sleep', '30']);
    const mine = sshd.connectionPids().filter((pid) => !before.has(pid));
    assert.ok(mine.length > 0, 'found the per-connection sshd');
    const started = Date.now();
    for (const pid of mine) signalIfAlive(pid, 'SIGKILL');
    await assert.rejects(channel.exit, isCode('disconnected'));
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    assert.equal(disconnected.length, 1);
    await assert.rejects(transport.run(['true']), isCode('disconnected'));
    await transport.close();
  });

  it('notices a silent peer through keepalives and reports `disconnected`', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const before = new Set(sshd.connectionPids());
    const transport = await SshTransport.open('gpu', options(h, { keepaliveIntervalMs: 200, keepaliveCountMax: 2 }));
    const mine = sshd.connectionPids().filter((pid) => !before.has(pid));
    // Freeze the per-connection sshd and its children: the TCP link stays up but nothing answers.
    const frozen = [...mine, ...mine.flatMap((pid) => execFileSync('sh', ['-c', `pgrep -P ${pid} || true`]).toString().split(/\s+/).filter(Boolean).map(Number))];
    const lost = new Promise<Error>((resolve) => transport.onDisconnect(resolve));
    const started = Date.now();
    for (const pid of frozen) signalIfAlive(pid, 'SIGSTOP');
    try {
      isCode('disconnected')(await lost);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      // SIGKILL ends a stopped process too; its parent may reap it before any later signal, hence no SIGCONT.
      for (const pid of frozen) signalIfAlive(pid, 'SIGKILL');
      await transport.close();
    }
  });

  it('kills a remote process and reports how it ended', async () => {
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]), `${sshd.knownHostsLine()}\n`);
    const transport = await SshTransport.open('gpu', options(h));
    try {
      const channel = await transport.exec(['sleep', '30']);
      const started = Date.now();
      channel.kill('TERM');
      const status = await channel.exit;
      assert.deepEqual(status, { code: null, signal: 'TERM' });
      assert.ok(Date.now() - started < 3000);
      const controller = new AbortController();
      const aborted = await transport.exec(['sleep', '30'], { signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted.exit, isCode('cancelled'));
    } finally {
      await transport.close();
    }
  });

  it('classifies refused, timed-out and cancelled connects', async () => {
    const h = makeHome(['Host closed', '  HostName 127.0.0.1', '  Port 1', 'Host silent', '  HostName 127.0.0.1', '  Port SILENT'.replace('SILENT', '0')]);
    await assert.rejects(SshTransport.open('closed', options(h)), isCode('refused'));

    const silent: Server = createServer(() => undefined); // accepts, never sends a banner
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      await assert.rejects(SshTransport.open(`x@127.0.0.1:${port}`, options(h, { connectTimeoutMs: 300 })), isCode('timeout'));
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(SshTransport.open(`x@127.0.0.1:${port}`, options(h, { signal: controller.signal })), isCode('cancelled'));
    } finally {
      silent.close();
    }

    const hk = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${plainKey.privatePath}`]));
    const controller = new AbortController();
    await assert.rejects(
      SshTransport.open('gpu', options(hk, { signal: controller.signal, confirmHostKey: async () => (controller.abort(), new Promise<boolean>(() => undefined)) })),
      isCode('cancelled'),
    );
  });

  it('lists every tried method when authentication fails', async () => {
    const stranger = makeKey(mkdtempSync(join(home, 'k-')), 'stranger');
    const h = makeHome(hostBlock('gpu', sshd, [`IdentityFile ${stranger.privatePath}`, `IdentityFile ${join(home, 'missing-key')}`]), `${sshd.knownHostsLine()}\n`);
    await assert.rejects(SshTransport.open('gpu', options(h)), (error: unknown) => {
      isCode('auth')(error);
      const message = (error as Error).message;
      assert.ok(message.includes(`key ${stranger.privatePath}: rejected by the server`), message);
      assert.ok(message.includes(`key ${join(home, 'missing-key')}: file not found`), message);
      return true;
    });
  });
});
