// sshConfig: resolving what the user typed through a real ~/.ssh/config layout written to a temp home.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listConfiguredHosts, parseHostSpec, resolveHost } from '../../src/transport/sshConfig.js';
import { TransportError } from '../../src/transport/errors.js';

let home = '';
const opts = () => ({ homeDir: home, localUser: 'me', env: { SSH_AUTH_SOCK: '/tmp/agent.sock', LAB: 'lab1' } });

describe('sshConfig', () => {
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'archloop-cfg-'));
    mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });
    writeFileSync(
      join(home, '.ssh', 'config'),
      [
        'Include conf.d/*.conf',
        'Host gpu1 gpu1-alias',
        '  HostName gpu1.example.org',
        '  User alice',
        '  Port 2222',
        '  IdentityFile ~/.ssh/id_%h_%r',
        '  IdentityFile %d/keys/%u.key',
        '  IdentitiesOnly yes',
        '  IdentityAgent ~/.agent/%r.sock',
        '  ServerAliveInterval 10',
        '  HashKnownHosts yes',
        'Host inner',
        '  HostName 10.1.2.3',
        '  ProxyJump bastion,bob@mid:2200',
        'Host mid',
        '  HostName mid.example.org',
        '  ProxyJump bastion2',
        'Host bastion',
        '  HostName bastion.example.org',
        '  User jump',
        'Host noagent',
        '  IdentityAgent none',
        'Host withcmd',
        '  ProxyCommand nc %h %p',
        'Host *.lab !bad.lab',
        '  User labuser',
        'Match exec "touch /tmp/archloop-should-not-exist"',
        '  User evil',
        'Host *',
        '  User defaultuser',
        '',
      ].join('\n'),
    );
    writeFileSync(join(home, '.ssh', 'conf.d', 'a.conf'), 'Host included\n  HostName inc.example.org\n  Port 2201\n');
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it('parses user@host:port specs and rejects malformed ones', () => {
    assert.deepEqual(parseHostSpec('bob@gpu:2200'), { user: 'bob', host: 'gpu', port: 2200 });
    assert.deepEqual(parseHostSpec('gpu'), { user: undefined, host: 'gpu', port: undefined });
    assert.deepEqual(parseHostSpec('me@[::1]:22'), { user: 'me', host: '::1', port: 22 });
    for (const bad of ['', 'a b', 'gpu:notaport', 'gpu:70000', '@gpu']) {
      assert.throws(() => parseHostSpec(bad), (error: unknown) => error instanceof TransportError && error.code === 'config', bad);
    }
  });

  it('resolves HostName, User, Port, IdentityFile tokens, IdentityAgent and options', () => {
    const host = resolveHost('gpu1', opts());
    assert.equal(host.hostName, 'gpu1.example.org');
    assert.equal(host.user, 'alice');
    assert.equal(host.port, 2222);
    assert.deepEqual(host.identityFiles, [join(home, '.ssh', 'id_gpu1.example.org_alice'), join(home, 'keys', 'me.key')]);
    assert.equal(host.identitiesOnly, true);
    assert.equal(host.agentSocket, join(home, '.agent', 'alice.sock'));
    assert.equal(host.serverAliveIntervalMs, 10_000);
    assert.equal(host.hashKnownHosts, true);
    assert.deepEqual(host.proxyJump, []);
    assert.deepEqual(host.userKnownHostsFiles, [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')]);
  });

  it('lets a typed user and port override the config', () => {
    const host = resolveHost('root@gpu1-alias:22', opts());
    assert.equal(host.user, 'root');
    assert.equal(host.port, 22);
    assert.equal(host.hostName, 'gpu1.example.org');
  });

  it('falls back to defaults: default identity files, SSH_AUTH_SOCK, Host * user', () => {
    const host = resolveHost('plain.example.org', opts());
    assert.equal(host.user, 'defaultuser');
    assert.equal(host.port, 22);
    assert.equal(host.identityFilesConfigured, false);
    assert.ok(host.identityFiles.includes(join(home, '.ssh', 'id_ed25519')));
    assert.equal(host.agentSocket, '/tmp/agent.sock');
    assert.equal(resolveHost('noagent', opts()).agentSocket, null);
  });

  it('honours wildcard and negated Host patterns and never runs Match exec', () => {
    assert.equal(resolveHost('x.lab', opts()).user, 'labuser');
    assert.equal(resolveHost('bad.lab', opts()).user, 'defaultuser');
  });

  it('follows Include with globs relative to ~/.ssh', () => {
    const host = resolveHost('included', opts());
    assert.equal(host.hostName, 'inc.example.org');
    assert.equal(host.port, 2201);
  });

  it('resolves ProxyJump chains hop by hop, including a hop’s own ProxyJump', () => {
    const host = resolveHost('inner', opts());
    assert.equal(host.hostName, '10.1.2.3');
    assert.deepEqual(
      host.proxyJump.map((hop) => `${hop.user}@${hop.hostName}:${hop.port}`),
      ['jump@bastion.example.org:22', 'defaultuser@bastion2:22', 'bob@mid.example.org:2200'],
    );
  });

  it('warns about ProxyCommand instead of ignoring it silently', () => {
    assert.match(resolveHost('withcmd', opts()).warnings.join(' '), /ProxyCommand is not supported/);
  });

  it('lists concrete hosts only, includes included ones', () => {
    assert.deepEqual(listConfiguredHosts(opts()), ['included', 'gpu1', 'gpu1-alias', 'inner', 'mid', 'bastion', 'noagent', 'withcmd']);
  });

  it('treats a missing config as empty and uses a given config path', () => {
    assert.deepEqual(listConfiguredHosts({ ...opts(), configPath: join(home, 'nope') }), []);
    const other = join(home, 'other_config');
    writeFileSync(other, 'Host z\n  HostName z.example\n');
    assert.equal(resolveHost('z', { ...opts(), configPath: other }).hostName, 'z.example');
  });

  it('reports a loop of Includes as a config error', () => {
    const loop = join(home, 'loop_config');
    writeFileSync(loop, `Include ${loop}\n`);
    assert.throws(() => resolveHost('x', { ...opts(), configPath: loop }), (error: unknown) => error instanceof TransportError && error.code === 'config');
  });
});
