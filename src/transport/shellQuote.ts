/**
 * The one place that turns an argv into a remote command line.
 *
 * sshd hands the command string to the user's login shell (`$SHELL -c STRING`), which may be sh, bash, zsh, fish or
 * even tcsh, and they disagree on quoting (fish reads `\'` and `\\` inside single quotes as escapes). So the real
 * command is a POSIX sh script, base64-encoded, and the string the login shell sees is
 *
 *     exec /bin/sh -c 'eval "$(echo BASE64 | base64 -d)"'
 *
 * whose only quoted part is a single-quoted string with no backslash and no single quote: every one of those shells
 * reads it identically and hands it verbatim to /bin/sh, which decodes and runs the script. stdin stays the channel
 * (the script is not piped into sh), so interactive protocols over stdin keep working.
 */

import { TransportError } from './errors.js';

const SHELL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function assertNoNul(value: string, what: string): void {
  if (value.includes('\0')) {
    throw new TransportError('invalid_argument', `${what} contains a NUL byte, which no process argument can carry. Remove it.`);
  }
}

/** POSIX single-quote quoting: safe for any string without NUL, in sh, bash, dash and zsh (not fish). */
export function quotePosix(value: string): string {
  assertNoNul(value, 'An argument');
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The argv as one POSIX sh command line (each word quoted; `exec` is not added). */
export function posixCommandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new TransportError('invalid_argument', 'The command is empty: give at least the program name.');
  return argv.map((arg) => quotePosix(arg)).join(' ');
}

export interface ScriptOptions {
  /** Directory to run in; a leading `~/` (or `~` alone) means the user's home. */
  cwd?: string;
  /** Variables to export; names must be shell identifiers. */
  env?: Record<string, string>;
  /**
   * Print `PID_PREAMBLE <pid>\n` on stderr before exec'ing, so the caller can signal the process later over a
   * second channel (OpenSSH ignores `signal` requests for root sessions). The caller must strip that line.
   */
  announcePid?: boolean;
}

/** The first stderr line of a script run with `announcePid`: this marker, a space, the pid, a newline. */
export const PID_PREAMBLE = '\u001eARCHLOOP_PID';

/** A POSIX sh script that changes directory, sets the environment and replaces itself with argv. */
export function posixScript(argv: readonly string[], options: ScriptOptions = {}): string {
  const lines: string[] = [];
  if (options.cwd !== undefined) {
    assertNoNul(options.cwd, 'The working directory');
    const cwd = options.cwd;
    const target = cwd === '~' ? '"$HOME"' : cwd.startsWith('~/') ? `"$HOME"/${quotePosix(cwd.slice(2))}` : quotePosix(cwd);
    // Exit 127 like a missing command, with a message on stderr, instead of running in the wrong place.
    lines.push(`cd -- ${target} || exit 127`);
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!SHELL_IDENTIFIER.test(name)) {
      throw new TransportError('invalid_argument', `Environment variable name ${JSON.stringify(name)} is not a valid shell identifier.`);
    }
    lines.push(`export ${name}=${quotePosix(value)}`);
  }
  // After cd/env so that a failing cd still reports on a clean stderr; $$ is the pid exec hands to the command.
  if (options.announcePid) lines.push(`printf '\\036ARCHLOOP_PID %s\\n' "$$" >&2`);
  lines.push(`exec ${posixCommandLine(argv)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The command string to give sshd (or any of sh/bash/zsh/fish/tcsh as `-c` argument) so that argv arrives
 * byte-exact. Needs `/bin/sh` and `base64` (coreutils or busybox) on the remote.
 */
export function loginShellCommand(argv: readonly string[], options: ScriptOptions = {}): string {
  const encoded = Buffer.from(posixScript(argv, options), 'utf8').toString('base64');
  return `exec /bin/sh -c 'eval "$(echo ${encoded} | base64 -d)"'`;
}
