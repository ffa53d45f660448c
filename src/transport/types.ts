/**
 * The two contracts of the connection layer: a Channel (one remote or local process) and a Transport (a way to
 * start processes and move files). SshTransport and LocalTransport implement them with the same semantics, so the
 * session layer and the tests do not care which one they hold.
 */

import type { Readable, Writable } from 'node:stream';

export interface ExitStatus {
  /** The exit code, or null if the process died from a signal. */
  code: number | null;
  /** The signal name without the SIG prefix (e.g. 'TERM'), or null. */
  signal: string | null;
}

export type KillSignal = 'TERM' | 'KILL' | 'INT' | 'HUP';

/** A running process: its stdin/stdout/stderr as byte streams, how it ended, and a way to stop it. */
export interface Channel {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Settles once the process has ended (its output may still be buffered in stdout/stderr: read them to the end
   * for all of it; a process blocked on a full pipe does not end until they are read). Rejects with TransportError
   * `disconnected` if the link dropped before the exit status arrived, or `cancelled` if the exec's signal fired.
   */
  readonly exit: Promise<ExitStatus>;
  /** Asks the process to stop (best effort over SSH: servers may ignore signals, so the channel is closed too). */
  kill(signal?: KillSignal): void;
}

export interface ExecOptions {
  /** Working directory; `~/x` is relative to the user's home. Default: the home directory (SSH) or process cwd (local). */
  cwd?: string;
  /** Extra environment variables; names must be shell identifiers. */
  env?: Record<string, string>;
  /** Cancels the process start, and once started, kills it. */
  signal?: AbortSignal;
}

export interface RunOptions extends ExecOptions {
  /** Bytes written to stdin, which is then closed. Without it stdin is closed immediately. */
  stdin?: string | Buffer;
  /** Keep at most this many bytes of each stream (the rest is counted, not kept). Default 16 MiB. */
  maxOutputBytes?: number;
  /** Called with each complete stdout line as it arrives (for progress display). */
  onStdoutLine?: (line: string) => void;
  /** Called with each complete stderr line as it arrives. */
  onStderrLine?: (line: string) => void;
}

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
  /** True if either stream was longer than maxOutputBytes and was cut. */
  truncated: boolean;
}

export interface FileStat {
  isFile: boolean;
  isDirectory: boolean;
  size: number;
  /** Permission bits (e.g. 0o644). */
  mode: number;
}

export interface FileOptions {
  signal?: AbortSignal;
}

export interface WriteFileOptions extends FileOptions {
  /** Permission bits of a newly written file. Default 0o644. */
  mode?: number;
}

/**
 * Starts processes and moves files on one machine. Paths are absolute or start with `~/` (the user's home).
 * Every method rejects with a TransportError; none throws synchronously.
 */
export interface Transport {
  readonly kind: 'ssh' | 'local';
  /** For messages and logs, e.g. `alice@gpu1:22` or `local`. */
  readonly description: string;
  /** Starts `argv` (argv[0] looked up in PATH) without any shell interpreting the arguments. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<Channel>;
  /** Runs `argv` to completion and collects its output. A non-zero exit is a result, not an error. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** The user's home directory on that machine. */
  homeDir(options?: FileOptions): Promise<string>;
  /** Writes a whole file (replacing it). The parent directory must exist. */
  writeFile(path: string, data: string | Buffer, options?: WriteFileOptions): Promise<void>;
  readFile(path: string, options?: FileOptions): Promise<Buffer>;
  /** Creates a directory and its missing parents; an existing directory is fine. */
  mkdirp(path: string, options?: FileOptions): Promise<void>;
  /** The file's metadata, or null if nothing exists at `path`. */
  stat(path: string, options?: FileOptions): Promise<FileStat | null>;
  /** Registers a listener for an unexpected loss of the transport; returns a function that unregisters it. */
  onDisconnect(listener: (error: Error) => void): () => void;
  /** Ends every channel and the connection. Safe to call twice. */
  close(): Promise<void>;
}
