// LocalTransport: the same Channel semantics as over SSH, with real child processes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport } from '../../src/transport/localTransport.js';
import { TransportError } from '../../src/transport/errors.js';

let home = '';
let transport: LocalTransport;
const isCode = (code: TransportError['code']) => (error: unknown) => error instanceof TransportError && error.code === code;

describe('LocalTransport', () => {
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'archloop-local-'));
    transport = new LocalTransport({ homeDir: home });
  });
  after(async () => {
    await transport.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('passes argv untouched (no shell), with cwd and env, and reports the exit code', async () => {
    const hostile = ["it's", '$(id)', '`id`', '*', '-n', 'a\nb', 'ünï 🎉', ''];
    const result = await transport.run(['/bin/sh', '-c', 'printf "%s\\0" "$@"; printf "%s|%s" "$PWD" "$X" >&2; exit 4', 'p', ...hostile], { cwd: '~', env: { X: 'x$y' } });
    assert.deepEqual(result.stdout.split('\0').slice(0, -1), hostile);
    assert.equal(result.stderr, `${home}|x$y`);
    assert.equal(result.code, 4);
  });

  it('reports a missing program or directory as exit 127 with a message, like the remote shell', async () => {
    const missing = await transport.run(['archloop-no-such-program']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /not found/);
    const badCwd = await transport.run(['true'], { cwd: join(home, 'nope') });
    assert.equal(badCwd.code, 127);
    assert.match(badCwd.stderr, /No such file/);
  });

  it('refuses empty argv, NUL bytes and bad env names', async () => {
    await assert.rejects(transport.exec([]), isCode('invalid_argument'));
    await assert.rejects(transport.exec(['echo', 'a\0b']), isCode('invalid_argument'));
    await assert.rejects(transport.exec(['true'], { env: { 'A B': '1' } }), isCode('invalid_argument'));
  });

  it('feeds stdin, streams lines and caps output', async () => {
    const lines: string[] = [];
    const result = await transport.run(['cat'], { stdin: 'one\ntwo', onStdoutLine: (line) => lines.push(line) });
    assert.equal(result.stdout, 'one\ntwo');
    assert.deepEqual(lines, ['one', 'two']);
    const capped = await transport.run(['/bin/sh', '-c', 'head -c 10000 /dev/zero'], { maxOutputBytes: 100 });
    assert.equal(capped.stdout.length, 100);
    assert.equal(capped.truncated, true);
  });

  it('kills a process and cancels through the signal', async () => {
    const channel = await transport.exec(['sleep', '30']);
    channel.kill('TERM');
    assert.deepEqual(await channel.exit, { code: null, signal: 'TERM' });
    const controller = new AbortController();
    const aborted = await transport.exec(['sleep', '30'], { signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted.exit, isCode('cancelled'));
    await assert.rejects(transport.exec(['true'], { signal: controller.signal }), isCode('cancelled'));
  });

  it('writes, reads and stats files under ~ and refuses relative paths', async () => {
    await transport.mkdirp('~/a/b');
    await transport.writeFile('~/a/b/f', 'data', { mode: 0o600 });
    assert.deepEqual(await transport.stat('~/a/b/f'), { isFile: true, isDirectory: false, size: 4, mode: 0o600 });
    assert.equal((await transport.readFile(join(home, 'a/b/f'))).toString(), 'data');
    assert.equal(await transport.stat('~/a/missing'), null);
    assert.equal(await transport.homeDir(), home);
    await assert.rejects(transport.writeFile('rel', 'x'), isCode('invalid_argument'));
    await assert.rejects(transport.readFile('~/a/missing'), isCode('file'));
  });
});
