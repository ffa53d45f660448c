// knownHosts: the pure host-key decision, cross-checked against OpenSSH's own ssh-keygen where it can be.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendLine,
  checkHostKey,
  formatKnownHostsLine,
  hostFieldMatches,
  keyTypeOfBlob,
  knownHostsName,
  parseKnownHosts,
  sha256Fingerprint,
} from '../../src/transport/knownHosts.js';

let dir = '';
let keyA: Buffer;
let keyB: Buffer;
let keyRsa: Buffer;
let pubA = '';

function makeKey(name: string, type: string): Buffer {
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '1024'] : []), '-N', '', '-f', join(dir, name)]);
  const pub = readFileSync(join(dir, `${name}.pub`), 'utf8').trim().split(/\s+/);
  return Buffer.from(pub[1] ?? '', 'base64');
}

const file = (text: string, path = '/home/u/.ssh/known_hosts') => ({ path, entries: parseKnownHosts(text) });

describe('knownHosts', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'archloop-kh-'));
    keyA = makeKey('a', 'ed25519');
    keyB = makeKey('b', 'ed25519');
    keyRsa = makeKey('r', 'rsa');
    pubA = readFileSync(join(dir, 'a.pub'), 'utf8');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('computes the fingerprint exactly as ssh-keygen -l prints it', () => {
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'a.pub')]).toString();
    assert.ok(printed.includes(sha256Fingerprint(keyA)), `${printed} vs ${sha256Fingerprint(keyA)}`);
    assert.equal(keyTypeOfBlob(keyA), 'ssh-ed25519');
    assert.equal(keyTypeOfBlob(keyRsa), 'ssh-rsa');
  });

  it('names non-22 ports [host]:port and lower-cases', () => {
    assert.equal(knownHostsName('GPU1.example', 22), 'gpu1.example');
    assert.equal(knownHostsName('gpu1', 2222), '[gpu1]:2222');
  });

  it('matches plain, listed, wildcard and negated patterns', () => {
    assert.ok(hostFieldMatches('gpu1,10.0.0.1', 'gpu1'));
    assert.ok(hostFieldMatches('gpu1,10.0.0.1', '10.0.0.1'));
    assert.ok(!hostFieldMatches('gpu1', 'gpu10'));
    assert.ok(hostFieldMatches('gpu*', 'gpu10'));
    assert.ok(hostFieldMatches('gpu?', 'gpu1'));
    assert.ok(!hostFieldMatches('gpu?', 'gpu'), '? is exactly one character');
    assert.ok(!hostFieldMatches('*.lab,!bad.lab', 'bad.lab'));
    assert.ok(hostFieldMatches('*.lab,!bad.lab', 'good.lab'));
    assert.ok(hostFieldMatches('[gpu1]:2222', '[gpu1]:2222'));
    assert.ok(!hostFieldMatches('gpu1', '[gpu1]:2222'), 'a port-22 entry does not cover another port');
    assert.ok(hostFieldMatches('[*.lab]:*', '[x.lab]:2200'));
    assert.ok(!hostFieldMatches('a.b', 'axb'), 'dots are literal');
  });

  it('accepts the known key, reports a changed key with file and line, and unknown hosts', () => {
    const files = [file(`# comment\n\ngpu1 ${keyTypeOfBlob(keyA)} ${keyA.toString('base64')}\n[gpu1]:2222 ssh-ed25519 ${keyB.toString('base64')}\n`)];
    assert.deepEqual(checkHostKey(files, 'gpu1', 22, keyA), { status: 'ok', file: '/home/u/.ssh/known_hosts', line: 3 });
    assert.deepEqual(checkHostKey(files, 'gpu1', 22, keyB), { status: 'changed', file: '/home/u/.ssh/known_hosts', line: 3, knownKeyType: 'ssh-ed25519' });
    assert.deepEqual(checkHostKey(files, 'gpu1', 2222, keyB), { status: 'ok', file: '/home/u/.ssh/known_hosts', line: 4 });
    assert.deepEqual(checkHostKey(files, 'gpu2', 22, keyA), { status: 'unknown', otherKeyTypes: [] });
  });

  it('treats a key of another type as unknown but says which types are known', () => {
    const files = [file(`gpu1 ssh-ed25519 ${keyA.toString('base64')}\n`)];
    assert.deepEqual(checkHostKey(files, 'gpu1', 22, keyRsa), { status: 'unknown', otherKeyTypes: ['ssh-ed25519'] });
  });

  it('refuses a @revoked key even when another line trusts it', () => {
    const files = [file(`gpu1 ssh-ed25519 ${keyA.toString('base64')}\n`), file(`@revoked * ssh-ed25519 ${keyA.toString('base64')}\n`, '/etc/ssh/ssh_known_hosts')];
    assert.deepEqual(checkHostKey(files, 'gpu1', 22, keyA), { status: 'revoked', file: '/etc/ssh/ssh_known_hosts', line: 1 });
  });

  it('skips @cert-authority lines and unknown markers', () => {
    const files = [file(`@cert-authority gpu1 ssh-ed25519 ${keyB.toString('base64')}\n@weird gpu1 ssh-ed25519 ${keyB.toString('base64')}\n`)];
    assert.equal(checkHostKey(files, 'gpu1', 22, keyA).status, 'unknown');
  });

  it('matches entries hashed by ssh-keygen -H, and ssh-keygen -F finds the lines we hash', () => {
    const path = join(dir, 'known_hosts');
    writeFileSync(path, `gpu1 ${pubA.split(' ').slice(0, 2).join(' ')}\n[gpu1]:2222 ssh-ed25519 ${keyB.toString('base64')}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', path]);
    const hashed = readFileSync(path, 'utf8');
    assert.ok(!hashed.includes('gpu1'), 'ssh-keygen hashed the names');
    const files = [file(hashed, path)];
    assert.equal(checkHostKey(files, 'gpu1', 22, keyA).status, 'ok');
    assert.equal(checkHostKey(files, 'gpu1', 2222, keyB).status, 'ok');
    assert.equal(checkHostKey(files, 'gpu1', 22, keyB).status, 'changed');

    const ours = join(dir, 'ours');
    writeFileSync(ours, appendLine('', formatKnownHostsLine('gpu9', 2200, keyA, true)));
    const found = execFileSync('ssh-keygen', ['-F', '[gpu9]:2200', '-f', ours]).toString();
    assert.match(found, /Host \[gpu9\]:2200 found: line 1/);
    assert.equal(checkHostKey([file(readFileSync(ours, 'utf8'), ours)], 'gpu9', 2200, keyA).status, 'ok');
  });

  it('writes plain lines and adds a missing newline before appending', () => {
    assert.equal(formatKnownHostsLine('gpu1', 22, keyA, false), `gpu1 ssh-ed25519 ${keyA.toString('base64')}`);
    assert.equal(appendLine('x', 'y'), '\ny\n');
    assert.equal(appendLine('x\n', 'y'), 'y\n');
  });

  it('skips malformed lines instead of failing', () => {
    assert.deepEqual(parseKnownHosts('onlyhost\nhost type\n\n#x\n'), []);
  });
});
