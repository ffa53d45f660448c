/**
 * Transport for local mode and tests: the same Channel semantics as SshTransport over child_process. argv is
 * spawned directly, never through a shell. As over SSH (where /bin/sh reports it), a missing program or working
 * directory is exit code 127 with a message on stderr, not an exception.
 */

import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { abortable, cancelledError, throwIfAborted } from './abort.js';
import { collectRun } from './channelOutput.js';
import { TransportError, describeError } from './errors.js';
import type { Channel, ExecOptions, ExitStatus, FileOptions, FileStat, KillSignal, RunOptions, RunResult, Transport, WriteFileOptions } from './types.js';

export interface LocalTransportOptions {
  /** What `~/` means; default os.homedir(). Tests point it at a temp directory. */
  homeDir?: string;
}

const SHELL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A channel for a process that could not start: the message on stderr and the shell's exit code. */
function failedChannel(message: string, code: number): Channel {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.end();
  stderr.end(`${message}\n`);
  const stdin = new PassThrough();
  stdin.resume();
  return { stdin, stdout, stderr, exit: Promise.resolve({ code, signal: null }), kill: () => undefined };
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly description = 'local';
  private readonly home: string;
  private closed = false;
  private readonly running = new Set<Channel>();

  constructor(options: LocalTransportOptions = {}) {
    this.home = options.homeDir ?? homedir();
  }

  private resolvePath(path: string): string {
    if (path === '~' || path.startsWith('~/')) return join(this.home, path.slice(1));
    if (!isAbsolute(path)) throw new TransportError('invalid_argument', `Path ${path} must be absolute or start with ~/.`);
    return path;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<Channel> {
    if (this.closed) throw new TransportError('disconnected', 'The local transport was closed.');
    const [program, ...args] = argv;
    if (program === undefined || program === '') throw new TransportError('invalid_argument', 'The command is empty: give at least the program name.');
    if (argv.some((arg) => arg.includes('\0'))) throw new TransportError('invalid_argument', 'An argument contains a NUL byte, which no process argument can carry. Remove it.');
    for (const name of Object.keys(options.env ?? {})) {
      if (!SHELL_IDENTIFIER.test(name)) throw new TransportError('invalid_argument', `Environment variable name ${JSON.stringify(name)} is not a valid shell identifier.`);
    }
    throwIfAborted(options.signal, `Starting ${program}`);
    const cwd = options.cwd === undefined ? undefined : this.resolvePath(options.cwd.startsWith('~') || isAbsolute(options.cwd) ? options.cwd : join(process.cwd(), options.cwd));
    if (cwd !== undefined && !(await stat(cwd).catch(() => null))?.isDirectory()) {
      return failedChannel(`cd: ${cwd}: No such file or directory`, 127);
    }
    const child = spawn(program, args, { cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const started = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    });
    if (started) {
      const code = started.code === 'EACCES' ? 126 : 127;
      return failedChannel(`${program}: ${started.code === 'ENOENT' ? 'not found' : describeError(started)}`, code);
    }
    child.stdin.on('error', () => undefined); // EPIPE when the process exits without reading stdin

    const signal = options.signal;
    const exit = new Promise<ExitStatus>((resolve, reject) => {
      const onAbort = (): void => {
        child.kill('SIGKILL');
        reject(cancelledError(`The command ${program}`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.once('exit', (code, signalName) => {
        signal?.removeEventListener('abort', onAbort);
        resolve({ code, signal: signalName ? signalName.replace(/^SIG/, '') : null });
      });
    });
    exit.catch(() => undefined);
    const channel: Channel = {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exit,
      kill: (signalName: KillSignal = 'TERM') => void child.kill(`SIG${signalName}`),
    };
    this.running.add(channel);
    void exit.finally(() => this.running.delete(channel)).catch(() => undefined);
    return channel;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return collectRun(await this.exec(argv, options), options);
  }

  async homeDir(): Promise<string> {
    return this.home;
  }

  private wrap<T>(operation: string, path: string, work: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return abortable(
      work().catch((error: unknown) => {
        throw new TransportError('file', `Could not ${operation} ${path}: ${describeError(error)}. Check permissions and free space.`, { cause: error });
      }),
      signal,
      `${operation} ${path}`,
    );
  }

  async writeFile(path: string, data: string | Buffer, options: WriteFileOptions = {}): Promise<void> {
    const target = this.resolvePath(path);
    await this.wrap('write', target, () => writeFile(target, data, { mode: options.mode ?? 0o644 }), options.signal);
  }

  async readFile(path: string, options: FileOptions = {}): Promise<Buffer> {
    const target = this.resolvePath(path);
    return this.wrap('read', target, () => readFile(target), options.signal);
  }

  async mkdirp(path: string, options: FileOptions = {}): Promise<void> {
    const target = this.resolvePath(path);
    await this.wrap('create the directory', target, () => mkdir(target, { recursive: true, mode: 0o755 }), options.signal);
  }

  async stat(path: string, options: FileOptions = {}): Promise<FileStat | null> {
    const target = this.resolvePath(path);
    return this.wrap(
      'stat',
      target,
      async () => {
        try {
          const stats = await stat(target);
          return { isFile: stats.isFile(), isDirectory: stats.isDirectory(), size: stats.size, mode: stats.mode & 0o7777 };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
          throw error;
        }
      },
      options.signal,
    );
  }

  onDisconnect(_listener: (error: Error) => void): () => void {
    return () => undefined; // a local transport cannot drop
  }

  /** Kills every process it started that is still running. */
  async close(): Promise<void> {
    this.closed = true;
    for (const channel of this.running) channel.kill('KILL');
    await Promise.allSettled([...this.running].map((channel) => channel.exit));
  }
}
