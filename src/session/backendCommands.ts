/**
 * The backend's command line, as the extension calls it on a host: list runs, start/stop a run, open an attach
 * channel. Every command is an argv (never a shell string); the transport quotes it for the remote login shell.
 *
 * On failure each function throws a BackendCommandError that names the command, its exit status and the tail of what
 * it printed, so the UI can show the user the backend's own explanation.
 */
import { z } from 'zod';
import { RunSummary } from '../protocol';
import type { Channel, Transport } from '../transport/types';
import type { AttachOpener } from './runClient';

/** Where the backend lives on a host: the Python of its venv, and the folder that holds its runs. */
export interface Backend {
  /** Returns a connected transport; called again after a drop, so an implementation may reconnect. */
  transport(signal?: AbortSignal): Promise<Transport>;
  /** The Python interpreter with `archloop` installed (absolute, or `~/`-relative on the host). */
  python: string;
  /** Folder that holds the runs (`archloop runs --root`). */
  runRoot: string;
  /**
   * Environment every backend command needs (PYTHONPATH when the host's own interpreter runs the uploaded package
   * as it is); absent when the venv's python needs none.
   */
  env?: Readonly<Record<string, string>>;
}

/** Run/exec options for a backend command: the backend's environment plus the caller's signal. */
export function backendRunOptions(backend: Backend, signal?: AbortSignal): { signal?: AbortSignal; env?: Record<string, string> } {
  return { ...(signal ? { signal } : {}), ...(backend.env && Object.keys(backend.env).length ? { env: { ...backend.env } } : {}) };
}

export class BackendCommandError extends Error {
  override readonly name = 'BackendCommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
    message: string,
  ) {
    super(message);
  }
}

export interface StartRunOptions {
  /** A named configuration (paper, gpu-small, demo). */
  preset?: string;
  /** A TOML run configuration; uploaded to the run root first. May name a preset and override its keys. */
  configToml?: string;
  /** Where the run lives; default: a new folder under the run root chosen by the backend. */
  runDir?: string;
  signal?: AbortSignal;
}

const StartResult = z.object({ runDir: z.string(), pid: z.int().nullable().optional() }).loose();
export type StartResult = z.infer<typeof StartResult>;

function archloop(backend: Backend, ...args: string[]): string[] {
  return [backend.python, '-m', 'archloop', ...args];
}

async function runJson<T>(backend: Backend, argv: string[], schema: z.ZodType<T>, signal: AbortSignal | undefined): Promise<T> {
  const transport = await backend.transport(signal);
  const command = argv.slice(3).join(' ');
  const result = await transport.run(argv, backendRunOptions(backend, signal));
  const output = `${result.stdout}\n${result.stderr}`.trim();
  if (result.code !== 0) {
    const tail = output.split('\n').slice(-12).join('\n');
    throw new BackendCommandError(command, result.code, output, `archloop ${command} failed on ${transport.description} (exit ${result.code ?? `signal ${result.signal}`}):\n${tail}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new BackendCommandError(command, 0, output, `archloop ${command} printed something that is not JSON: ${result.stdout.slice(0, 200)}`);
  }
  const checked = schema.safeParse(parsed);
  if (!checked.success) {
    throw new BackendCommandError(command, 0, output, `archloop ${command} answered in an unexpected shape (${checked.error.issues[0]?.message ?? 'invalid'}): redeploy the backend`);
  }
  return checked.data;
}

/** The runs under the backend's run root, newest first. */
export async function listRuns(backend: Backend, signal?: AbortSignal): Promise<RunSummary[]> {
  const runs = await runJson(backend, archloop(backend, 'runs', '--root', backend.runRoot, '--json'), z.array(RunSummary), signal);
  return runs.sort((a, b) => b.createdAt - a.createdAt);
}

/** Creates (or resumes) a run and launches its detached daemon. */
export async function startRun(backend: Backend, options: StartRunOptions): Promise<StartResult> {
  const args = ['start', '--json'];
  if (options.preset) args.push('--preset', options.preset);
  if (options.runDir) args.push('--run-dir', options.runDir);
  if (options.configToml !== undefined) {
    const transport = await backend.transport(options.signal);
    const folder = `${backend.runRoot.replace(/\/+$/, '')}/.configs`;
    await transport.mkdirp(folder, options.signal ? { signal: options.signal } : {});
    const path = `${folder}/${Date.now()}-${process.pid}.toml`;
    await transport.writeFile(path, options.configToml, options.signal ? { signal: options.signal } : {});
    args.push('--config', path);
  }
  if (!options.runDir) args.push('--run-dir', `${backend.runRoot.replace(/\/+$/, '')}/${runFolderName()}`);
  return runJson(backend, archloop(backend, ...args), StartResult, options.signal);
}

/** Asks a run's daemon to stop after its current step. */
export async function stopRun(backend: Backend, runDir: string, signal?: AbortSignal): Promise<void> {
  const transport = await backend.transport(signal);
  const result = await transport.run(archloop(backend, 'stop', '--run-dir', runDir), backendRunOptions(backend, signal));
  if (result.code !== 0) {
    throw new BackendCommandError('stop', result.code, `${result.stdout}\n${result.stderr}`, `archloop stop failed: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
  }
}

/** The opener a RunClient uses to (re-)attach to `runDir`: a fresh `archloop attach --since N` each time. */
export function attachOpener(backend: Backend, runDir: string): AttachOpener {
  return async (since: number, signal: AbortSignal): Promise<Channel> => {
    const transport = await backend.transport(signal);
    return transport.exec(archloop(backend, 'attach', '--run-dir', runDir, '--since', String(since)), backendRunOptions(backend, signal));
  };
}

/** A sortable, readable folder name for a new run: run-20261129-150412. */
export function runFolderName(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `run-${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
}
