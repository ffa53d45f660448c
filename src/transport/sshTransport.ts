/**
 * Transport over an SSH connection: processes through exec channels (argv quoted once, by shellQuote, so the login
 * shell cannot reinterpret it) and files through SFTP. A dropped link rejects every open channel's `exit` with
 * TransportError `disconnected` and notifies onDisconnect listeners.
 */

import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { Client, ClientChannel, SFTPWrapper, Stats } from 'ssh2';
import { abortable, cancelledError, throwIfAborted } from './abort.js';
import { collectRun } from './channelOutput.js';
import { TransportError, describeError } from './errors.js';
import { PID_PREAMBLE, loginShellCommand } from './shellQuote.js';
import { resolveHost, type SshConfigOptions } from './sshConfig.js';
import { connectSsh, type ConnectOptions, type SshConnection } from './sshConnection.js';
import type { Channel, ExecOptions, ExitStatus, FileOptions, FileStat, KillSignal, RunOptions, RunResult, Transport, WriteFileOptions } from './types.js';

const SFTP_NO_SUCH_FILE = 2;

export interface OpenSshOptions extends ConnectOptions, SshConfigOptions {}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly description: string;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private home: string | undefined;
  private closing = false;
  private lostError: TransportError | undefined;
  private readonly disconnectListeners = new Set<(error: Error) => void>();
  private readonly openChannels = new Set<(error: TransportError) => void>();

  /** Resolves `target` (alias or user@host:port) through the SSH config and connects. Rejects with TransportError. */
  static async open(target: string, options: OpenSshOptions = {}): Promise<SshTransport> {
    const host = resolveHost(target, options);
    return new SshTransport(await connectSsh(host, options));
  }

  constructor(private readonly connection: SshConnection) {
    const { host } = connection;
    this.description = `${host.user}@${host.hostName}:${host.port}`;
    const client = connection.client;
    client.on('error', (error: Error) => this.lost(new TransportError('disconnected', `The connection to ${this.description} failed: ${error.message}. Reconnect to continue.`, { cause: error })));
    client.on('close', () => this.lost(new TransportError('disconnected', `The connection to ${this.description} was lost. Reconnect to continue; a running loop on the host is not affected.`)));
  }

  /** The underlying ssh2 client (for forwarding or anything this interface lacks). */
  get client(): Client {
    return this.connection.client;
  }

  private lost(error: TransportError): void {
    if (this.lostError) return;
    this.lostError = this.closing ? new TransportError('disconnected', `The connection to ${this.description} was closed.`) : error;
    for (const rejectChannel of this.openChannels) rejectChannel(this.lostError);
    for (const client of this.connection.chain) client.end();
    if (!this.closing) for (const listener of this.disconnectListeners) listener(this.lostError);
  }

  private ensureOpen(): void {
    if (this.lostError) throw this.lostError;
  }

  onDisconnect(listener: (error: Error) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<Channel> {
    this.ensureOpen();
    throwIfAborted(options.signal, `Starting ${argv[0] ?? 'a command'}`);
    const command = loginShellCommand(argv, { cwd: options.cwd, env: options.env, announcePid: true });
    const stream = await abortable(
      new Promise<ClientChannel>((resolve, reject) => {
        const opened = (error: Error | undefined, channel?: ClientChannel): void => {
          if (error || !channel) reject(this.lostError ?? new TransportError('channel_open', `${this.description} refused to start ${argv[0]} (${error?.message}). The server may limit sessions (MaxSessions).`, { cause: error }));
          else resolve(channel);
        };
        try {
          this.connection.client.exec(command, opened);
        } catch (error) {
          opened(error as Error); // ssh2 throws "Not connected" synchronously when the socket just went away
        }
      }),
      options.signal,
      `Starting ${argv[0]}`,
    );
    return this.wrapChannel(stream, options.signal);
  }

  /** Passes `source` through, minus the pid preamble line our wrapper script prints first (see shellQuote). */
  private stripPidPreamble(source: Readable, onPid: (pid: number) => void): Readable {
    const out = new PassThrough();
    let head: Buffer | null = Buffer.alloc(0);
    source.on('data', (chunk: Buffer) => {
      if (head === null) return void out.write(chunk);
      head = Buffer.concat([head, chunk]);
      const marker = Buffer.from(PID_PREAMBLE);
      const comparable = Math.min(head.length, marker.length);
      if (!head.subarray(0, comparable).equals(marker.subarray(0, comparable))) {
        out.write(head); // no preamble (e.g. cd failed first): pass everything on
        head = null;
        return;
      }
      const newline = head.indexOf(10);
      if (newline < 0) return;
      const pid = Number(head.subarray(marker.length, newline).toString().trim());
      if (Number.isInteger(pid) && pid > 0) onPid(pid);
      const rest = head.subarray(newline + 1);
      head = null;
      if (rest.length > 0) out.write(rest);
    });
    source.on('end', () => {
      if (head && head.length > 0) out.write(head);
      out.end();
    });
    source.on('error', (error: Error) => out.destroy(error));
    return out;
  }

  private wrapChannel(stream: ClientChannel, signal: AbortSignal | undefined): Channel {
    let status: ExitStatus | undefined;
    let remotePid: number | undefined;
    let killedWith: KillSignal | undefined;
    let rejectExit: (error: TransportError) => void = () => undefined;
    const exit = new Promise<ExitStatus>((resolve, reject) => {
      let settled = false;
      const finish = (error?: TransportError): void => {
        if (settled) return;
        settled = true;
        this.openChannels.delete(rejectExit);
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          // Give a pending kill a moment to reach the host before the channel goes.
          setTimeout(() => stream.destroy(), 1000).unref();
          reject(error);
        } else {
          resolve(status ?? { code: null, signal: killedWith ?? null });
        }
      };
      rejectExit = (error) => finish(error);
      const onAbort = (): void => {
        kill('KILL');
        finish(cancelledError('The remote command'));
      };
      this.openChannels.add(rejectExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('exit', (code: number | null, signalName?: string) => {
        status = { code: typeof code === 'number' ? code : null, signal: signalName ? signalName.replace(/^SIG/, '') : null };
        // Settle on the exit status itself: 'close' waits until the caller has read all output, which it may never do.
        finish();
      });
      stream.on('close', () => {
        // A channel closed without an exit status because the link died is a disconnect, not an exit.
        if (!status && !killedWith && this.lostError) finish(this.lostError);
        else finish();
      });
      stream.on('error', (error: Error) => finish(new TransportError('disconnected', `The remote command's channel failed: ${error.message}.`, { cause: error })));
    });
    exit.catch(() => undefined);
    let pendingKill: KillSignal | undefined;
    const killRemotePid = (signalName: KillSignal): void => {
      // Only while no exit status has arrived, so that a recycled pid is not hit.
      if (remotePid === undefined || status || this.lostError) return;
      try {
        this.connection.client.exec(`kill -${signalName} ${remotePid}`, (error, killer) => {
          if (!error) killer.on('close', () => undefined).resume().stderr.resume();
        });
      } catch {
        // not connected any more: the process goes with the session
      }
    };
    const kill = (signalName: KillSignal = 'TERM'): void => {
      killedWith ??= signalName;
      try {
        stream.signal(signalName);
      } catch {
        // channel already closed
      }
      // OpenSSH ignores signal requests for root sessions, so also `kill` the announced pid over a second channel
      // (or as soon as the pid is announced).
      if (remotePid === undefined) pendingKill = signalName;
      else killRemotePid(signalName);
    };
    const stderr = this.stripPidPreamble(stream.stderr, (pid) => {
      remotePid = pid;
      if (pendingKill) killRemotePid(pendingKill);
    });
    return { stdin: stream, stdout: stream, stderr, exit, kill };
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return collectRun(await this.exec(argv, options), options);
  }

  private sftp(signal: AbortSignal | undefined): Promise<SFTPWrapper> {
    this.ensureOpen();
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      const opened = (error: Error | undefined, sftp: SFTPWrapper): void => {
        if (error) {
          this.sftpSession = undefined;
          reject(new TransportError('channel_open', `${this.description} refused the SFTP subsystem (${error.message}). Enable "Subsystem sftp" in the host's sshd_config.`, { cause: error }));
        } else {
          sftp.on('close', () => (this.sftpSession = undefined));
          resolve(sftp);
        }
      };
      try {
        this.connection.client.sftp(opened);
      } catch (error) {
        this.sftpSession = undefined;
        reject(this.lostError ?? new TransportError('disconnected', `The connection to ${this.description} is gone: ${describeError(error)}.`, { cause: error }));
      }
    });
    return abortable(this.sftpSession, signal, 'Opening SFTP');
  }

  private async resolvePath(path: string, signal: AbortSignal | undefined): Promise<string> {
    if (path === '~' || path.startsWith('~/')) return posix.join(await this.homeDir({ signal }), path.slice(1));
    if (!path.startsWith('/')) throw new TransportError('invalid_argument', `Remote path ${path} must be absolute or start with ~/.`);
    return path;
  }

  private fileError(operation: string, path: string, error: unknown): TransportError {
    if (error instanceof TransportError) return error;
    if (this.lostError) return this.lostError;
    return new TransportError('file', `Could not ${operation} ${path} on ${this.description}: ${describeError(error)}. Check permissions and free space there.`, { cause: error });
  }

  async homeDir(options: FileOptions = {}): Promise<string> {
    if (this.home) return this.home;
    const sftp = await this.sftp(options.signal);
    // SFTP starts in the login directory, so '.' resolves to the home directory.
    this.home = await abortable(
      new Promise<string>((resolve, reject) => sftp.realpath('.', (error, path) => (error ? reject(this.fileError('resolve the home directory', '.', error)) : resolve(path)))),
      options.signal,
      'Resolving the home directory',
    );
    return this.home;
  }

  async writeFile(path: string, data: string | Buffer, options: WriteFileOptions = {}): Promise<void> {
    const target = await this.resolvePath(path, options.signal);
    const sftp = await this.sftp(options.signal);
    await abortable(
      new Promise<void>((resolve, reject) => sftp.writeFile(target, data, { mode: options.mode ?? 0o644 }, (error) => (error ? reject(this.fileError('write', target, error)) : resolve()))),
      options.signal,
      `Writing ${target}`,
    );
  }

  async readFile(path: string, options: FileOptions = {}): Promise<Buffer> {
    const target = await this.resolvePath(path, options.signal);
    const sftp = await this.sftp(options.signal);
    return abortable(
      new Promise<Buffer>((resolve, reject) => sftp.readFile(target, (error: Error | undefined, data: Buffer) => (error ? reject(this.fileError('read', target, error)) : resolve(data)))),
      options.signal,
      `Reading ${target}`,
    );
  }

  private rawStat(sftp: SFTPWrapper, path: string): Promise<Stats | null> {
    return new Promise((resolve, reject) =>
      sftp.stat(path, (error, stats) => {
        if (!error) resolve(stats);
        else if ((error as Error & { code?: number }).code === SFTP_NO_SUCH_FILE) resolve(null);
        else reject(this.fileError('stat', path, error));
      }),
    );
  }

  async stat(path: string, options: FileOptions = {}): Promise<FileStat | null> {
    const target = await this.resolvePath(path, options.signal);
    const sftp = await this.sftp(options.signal);
    const stats = await abortable(this.rawStat(sftp, target), options.signal, `Checking ${target}`);
    return stats && { isFile: stats.isFile(), isDirectory: stats.isDirectory(), size: stats.size, mode: stats.mode & 0o7777 };
  }

  async mkdirp(path: string, options: FileOptions = {}): Promise<void> {
    const target = await this.resolvePath(path, options.signal);
    const sftp = await this.sftp(options.signal);
    const parts = target.split('/').filter(Boolean);
    let current = '';
    for (const part of parts) {
      throwIfAborted(options.signal, `Creating ${target}`);
      current += `/${part}`;
      const stats = await this.rawStat(sftp, current);
      if (stats?.isDirectory()) continue;
      if (stats) throw new TransportError('file', `${current} on ${this.description} exists and is not a directory; move it away.`);
      await new Promise<void>((resolve, reject) =>
        sftp.mkdir(current, { mode: 0o755 }, async (error) => {
          // Someone else may have created it meanwhile; that is fine.
          if (!error || (await this.rawStat(sftp, current).catch(() => null))?.isDirectory()) resolve();
          else reject(this.fileError('create the directory', current, error));
        }),
      );
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const final = this.connection.client;
    const closed = new Promise<void>((resolve) => {
      if (this.lostError) return resolve();
      final.once('close', () => resolve());
      setTimeout(resolve, 2000).unref();
    });
    for (const client of [...this.connection.chain].reverse()) client.end();
    await closed;
  }
}
