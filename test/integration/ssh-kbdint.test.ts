// keyboard-interactive and password auth. OpenSSH's sshd offers keyboard-interactive on Linux only through PAM,
// which needs a system account with a password (a change to the machine), so these run against ssh2's own SSH
// server instead: a real SSH protocol peer, in-process.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, type AuthContext, type AuthenticationType } from 'ssh2';
import { makeKey, type KeyPair } from '../helpers/sshd.js';
import { SshTransport, type OpenSshOptions } from '../../src/transport/sshTransport.js';
import { TransportError } from '../../src/transport/errors.js';

let dir = '';
let hostKey: KeyPair;
let server: Server;
let port = 0;
let allowed: AuthenticationType[] = ['keyboard-interactive'];

function handleAuth(ctx: AuthContext): void {
  if (!allowed.includes(ctx.method as AuthenticationType)) return ctx.reject(allowed);
  if (ctx.method === 'keyboard-interactive') {
    ctx.prompt([{ prompt: 'Verification code: ', echo: true }, { prompt: 'Password: ', echo: false }], 'Two steps', (answers) => (answers[0] === '123456' && answers[1] === 's3cret' ? ctx.accept() : ctx.reject(allowed)));
    return;
  }
  if (ctx.method === 'password') return ctx.password === 's3cret' ? ctx.accept() : ctx.reject(allowed);
  ctx.reject(allowed);
}

function options(extra: Partial<OpenSshOptions>): OpenSshOptions {
  const home = mkdtempSync(join(dir, 'h-'));
  mkdirSync(join(home, '.ssh'));
  writeFileSync(join(home, '.ssh', 'known_hosts'), `[127.0.0.1]:${port} ${hostKey.publicLine.split(' ').slice(0, 2).join(' ')}\n`);
  return { homeDir: home, env: {}, connectTimeoutMs: 10_000, ...extra };
}

describe('keyboard-interactive and password auth (ssh2 server)', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'archloop-kbd-'));
    hostKey = makeKey(dir, 'host');
    server = new Server({ hostKeys: [readFileSync(hostKey.privatePath)] }, (client) => {
      client.on('authentication', handleAuth);
      client.on('error', () => undefined);
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec) => {
          const stream = acceptExec();
          stream.write('logged in\n');
          stream.exit(0);
          stream.end();
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers keyboard-interactive prompts through the callback', async () => {
    allowed = ['keyboard-interactive'];
    const seen: unknown[] = [];
    const transport = await SshTransport.open(`tester@127.0.0.1:${port}`, options({
      keyboardInteractive: async (request) => {
        seen.push({ name: request.name, prompts: request.prompts });
        return ['123456', 's3cret'];
      },
    }));
    try {
      assert.equal((await transport.run(['anything'])).stdout, 'logged in\n');
      assert.deepEqual(seen, [{ name: 'Two steps', prompts: [{ prompt: 'Verification code: ', echo: true }, { prompt: 'Password: ', echo: false }] }]);
    } finally {
      await transport.close();
    }
  });

  it('reports wrong answers as an auth error that names keyboard-interactive', async () => {
    allowed = ['keyboard-interactive'];
    await assert.rejects(SshTransport.open(`tester@127.0.0.1:${port}`, options({ keyboardInteractive: async () => ['0', 'wrong'] })), (error: unknown) => {
      assert.ok(error instanceof TransportError && error.code === 'auth', String(error));
      assert.match(error.message, /keyboard-interactive: rejected by the server/);
      return true;
    });
  });

  it('asks for a password up to three times, stops when the user gives up', async () => {
    allowed = ['password'];
    const attempts: number[] = [];
    const transport = await SshTransport.open(`tester@127.0.0.1:${port}`, options({ password: async ({ attempt }) => (attempts.push(attempt), attempt === 2 ? 's3cret' : 'nope') }));
    await transport.close();
    assert.deepEqual(attempts, [1, 2]);

    const gaveUp: number[] = [];
    await assert.rejects(SshTransport.open(`tester@127.0.0.1:${port}`, options({ password: async ({ attempt }) => (gaveUp.push(attempt), undefined) })), (error: unknown) => error instanceof TransportError && error.code === 'auth');
    assert.deepEqual(gaveUp, [1]);
  });
});
