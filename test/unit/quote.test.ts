// shellQuote: argv must arrive byte-exact through every login shell a GPU host may have (sh, bash, zsh, fish).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { loginShellCommand, posixCommandLine, posixScript, quotePosix } from '../../src/transport/shellQuote.js';
import { TransportError } from '../../src/transport/errors.js';

const HOSTILE: string[] = [
  '',
  ' ',
  "it's",
  "''",
  '"double" quotes',
  '$(touch /tmp/archloop-pwned)',
  '`id`',
  '$HOME ${HOME} $0 $@ $*',
  'a;b && c || d | e & f',
  '*',
  '?',
  '[abc]',
  '~',
  '~/x',
  '-n',
  '-e',
  '--',
  'line1\nline2\n',
  '\r\t\v\f',
  'back\\slash\\\\ and \\\'',
  "fish \\' escape \\\\ test",
  'ünïcødé ✓ 日本語 🎉',
  '#comment',
  '!history',
  '{a,b}',
  '(subshell)',
  'a=b',
  '%s %d',
  '\u00a0nbsp',
  'x'.repeat(2000),
];

/** Runs `shell -c COMMAND` where the command prints each of its arguments NUL-terminated; returns them. */
function argvThrough(shell: string, argv: string[]): string[] {
  const printer = ['/bin/sh', '-c', 'printf "%s\\0" "$@"', 'printer', ...argv];
  const out = execFileSync(shell, ['-c', loginShellCommand(printer)], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } });
  const parts = out.toString('utf8').split('\0');
  assert.equal(parts.pop(), '', 'output ends with a NUL');
  return parts;
}

const SHELLS = ['/bin/sh', '/bin/bash', '/usr/bin/zsh', '/usr/bin/fish'].filter((shell) => existsSync(shell));

describe('quotePosix', () => {
  it('leaves plain words alone and single-quotes everything else', () => {
    assert.equal(quotePosix('abc/def-1.2'), 'abc/def-1.2');
    assert.equal(quotePosix(''), "''");
    assert.equal(quotePosix("it's"), `'it'\\''s'`);
    assert.equal(quotePosix('a b'), "'a b'");
  });

  it('refuses NUL bytes with an invalid_argument error', () => {
    assert.throws(() => quotePosix('a\0b'), (error: unknown) => error instanceof TransportError && error.code === 'invalid_argument');
  });

  it('refuses an empty argv and bad environment names', () => {
    assert.throws(() => posixCommandLine([]), (error: unknown) => error instanceof TransportError && error.code === 'invalid_argument');
    assert.throws(() => posixScript(['true'], { env: { 'A-B': 'x' } }), (error: unknown) => error instanceof TransportError && error.code === 'invalid_argument');
  });

  it('round-trips random strings through /bin/sh', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', minLength: 0, maxLength: 40 }).filter((s) => !s.includes('\0') && !/[\uD800-\uDFFF]/.test(s)), { maxLength: 4 }), (argv) => {
        const out = spawnSync('/bin/sh', ['-c', `${posixCommandLine(['printf', '%s\\0', ...argv])}`]).stdout.toString('utf8');
        const expected = argv.map((arg) => `${arg}\0`).join('');
        // printf with no args prints the format once with an empty %s
        assert.equal(out, argv.length === 0 ? '\0' : expected);
      }),
      { numRuns: 60 },
    );
  });
});

describe('loginShellCommand', () => {
  it('uses only base64 characters inside the single-quoted layer', () => {
    const command = loginShellCommand(['echo', ...HOSTILE]);
    const inner = /^exec \/bin\/sh -c 'eval "\$\(echo ([A-Za-z0-9+/=]+) \| base64 -d\)"'$/.exec(command);
    assert.ok(inner, command.slice(0, 120));
  });

  for (const shell of SHELLS) {
    it(`delivers hostile argv byte-exact through ${shell}`, () => {
      assert.deepEqual(argvThrough(shell, HOSTILE), HOSTILE);
    });
  }

  it('applies cwd (with ~) and env before exec', () => {
    const script = loginShellCommand(['/bin/sh', '-c', 'printf "%s|%s" "$PWD" "$ARCHLOOP_X"'], { cwd: '~', env: { ARCHLOOP_X: "v'al $(x)" } });
    const out = execFileSync('/bin/bash', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' } }).toString();
    assert.equal(out, "/tmp|v'al $(x)");
  });

  it('exits 127 with a message when the working directory does not exist', () => {
    const result = spawnSync('/bin/sh', ['-c', loginShellCommand(['true'], { cwd: '/nonexistent/archloop' })]);
    assert.equal(result.status, 127);
    assert.match(result.stderr.toString(), /nonexistent/);
  });

  it('round-trips random unicode argv through the login-shell layer (sh)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 4 }), (argv) => {
        assert.deepEqual(argvThrough('/bin/sh', argv), argv);
      }),
      { numRuns: 30 },
    );
  });
});
