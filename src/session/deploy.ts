/**
 * Puts the Python backend on a host and checks it, over any Transport (SSH, or local for local mode and tests):
 *
 *   1. bundle   hash remote-python/ (pyproject.toml + archloop/**)
 *   2. upload   to <root>/<hash>/ over SFTP, skipped when <root>/<hash>/.archloop-uploaded says that hash
 *               (the marker is written last, so an interrupted upload is redone, never half-used)
 *   3. venv     `python3 -m venv --system-site-packages <dir>/venv` (so a host's CUDA torch is reused) ...
 *   4. install  ... and `pip install <dir>` into it, with pip's output lines as progress;
 *               or, with `python`, no venv and no pip: that interpreter runs the uploaded package via PYTHONPATH,
 *               so the user's environment is never modified (its packages must be there; doctor says what lacks)
 *   5. doctor   `python -m archloop doctor --json` (with `--preset NAME` when a preset is named), parsed
 *   6. extras   with a preset, the extras its doctor report names (`gpu`: bitsandbytes for 4-bit/8-bit loading and
 *               8-bit optimizers) that this venv lacks: `pip install '<dir>[gpu]'`, then doctor again. Deploying again
 *               with a preset is cheap (the upload and venv are reused), so the start of a run calls it
 *
 * Every step reports progress and honours the AbortSignal. Failures are DeployError with the step, the code and
 * the tail of the command's output, so the UI can show what to fix; nothing is thrown past the caller.
 */

import { posix } from 'node:path';
import { TransportError, describeError } from '../transport/errors.js';
import type { RunResult, Transport } from '../transport/types.js';
import { collectBackendBundle, type BackendBundle } from './backendBundle.js';
import { parseDoctorReport, type DoctorReport } from './doctorReport.js';

export type DeployStep = 'bundle' | 'upload' | 'venv' | 'install' | 'doctor';

export interface DeployProgress {
  step: DeployStep;
  message: string;
  /** 0..1 within the step, when known (upload). */
  fraction?: number;
  /** One line of a command's output (pip, venv). */
  line?: string;
}

export type DeployErrorCode = 'sources' | 'upload_failed' | 'python_missing' | 'venv_failed' | 'install_failed' | 'doctor_failed' | 'cancelled' | 'disconnected';

export class DeployError extends Error {
  override readonly name = 'DeployError';

  constructor(
    readonly code: DeployErrorCode,
    readonly step: DeployStep,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DeployOptions {
  /** The local remote-python/ folder. */
  sourceDir: string;
  /** Where versions live on the host; default `~/.archloop/backend`. */
  root?: string;
  /** Use this interpreter as it is (no venv, no pip): e.g. a conda env's python, or the project's .venv in tests. */
  python?: string;
  /** Interpreter that creates the venv when `python` is not given; default `python3`. */
  basePython?: string;
  /** Extra `pip install` arguments (an index URL, `--no-deps`, ...). */
  pipArgs?: string[];
  /**
   * Run `archloop doctor` at the end (default true). A reconnect that deployed this hash before may skip it: doctor
   * imports torch and transformers, which takes seconds on a busy host.
   */
  runDoctor?: boolean;
  /** The preset a run is about to use: doctor checks its needs and the extras it names are installed (step 6). */
  preset?: string;
  signal?: AbortSignal;
  onProgress?: (progress: DeployProgress) => void;
}

export interface DeployedBackend {
  /** The versioned folder on the host. */
  dir: string;
  hash: string;
  /** False when that version was already there. */
  uploaded: boolean;
  /** False when the venv and install from an earlier deploy were reused (or with `python`, where none is made). */
  installed: boolean;
  python: string;
  /** Environment to run the backend with (PYTHONPATH in `python` mode). */
  env: Record<string, string>;
  /** argv prefix that runs the backend CLI: `[...command, 'attach', ...]`. */
  command: string[];
  /** The host's report, or null when `runDoctor` was false. */
  doctor: DoctorReport | null;
}

const UPLOADED_MARKER = '.archloop-uploaded';
const INSTALLED_MARKER = '.archloop-installed';
const UPLOAD_CONCURRENCY = 8;

/** What each extra brings, for the progress message. */
const EXTRA_PURPOSE: Record<string, string> = { gpu: 'bitsandbytes, for 4-bit/8-bit loading and 8-bit optimizers' };

/** The pip requirement that installs the backend in `dir` with `extras`: one argv element, never shell text. */
export function pipTarget(dir: string, extras: readonly string[]): string {
  return extras.length ? `${dir}[${[...extras].sort().join(',')}]` : dir;
}

/** The installed marker: the hash on its first line, then the extras installed with it (`extras: gpu`). */
export function formatInstalledMarker(hash: string, extras: readonly string[]): string {
  return extras.length ? `${hash}\nextras: ${[...extras].sort().join(',')}\n` : `${hash}\n`;
}

export function parseInstalledMarker(text: string | null): { hash: string; extras: string[] } | null {
  if (text === null) return null;
  const [hash = '', ...rest] = text.split('\n').map((line) => line.trim());
  const line = rest.find((l) => l.startsWith('extras:'));
  const extras = line ? line.slice('extras:'.length).split(',').map((e) => e.trim()).filter(Boolean) : [];
  return { hash, extras };
}

/**
 * The extras to install now: those the preset's doctor report names (doctor.py config_extras) that the venv was not
 * installed with. A report from an older backend has no `extras` field: nothing to install.
 */
export function extrasToInstall(report: Pick<DoctorReport, 'extras'> | null, installed: readonly string[]): string[] {
  const wanted = report?.extras ?? [];
  return wanted.filter((extra) => /^[A-Za-z0-9_-]+$/.test(extra) && !installed.includes(extra));
}

export function describeExtras(extras: readonly string[]): string {
  return extras.map((extra) => `the ${extra} extra${EXTRA_PURPOSE[extra] ? ` (${EXTRA_PURPOSE[extra]})` : ''}`).join(', ');
}

function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function asDeployError(error: unknown, step: DeployStep, what: string): DeployError {
  if (error instanceof DeployError) return error;
  if (error instanceof TransportError) {
    if (error.code === 'cancelled') return new DeployError('cancelled', step, `Deploy was cancelled during ${step}.`, { cause: error });
    if (error.code === 'disconnected') return new DeployError('disconnected', step, `${error.message} (during ${step})`, { cause: error });
  }
  return new DeployError(step === 'upload' ? 'upload_failed' : step === 'bundle' ? 'sources' : step === 'doctor' ? 'doctor_failed' : 'install_failed', step, `${what}: ${describeError(error)}`, { cause: error });
}

async function readText(transport: Transport, path: string, signal: AbortSignal | undefined): Promise<string | null> {
  if (!(await transport.stat(path, { signal }))?.isFile) return null;
  return (await transport.readFile(path, { signal })).toString('utf8').trim();
}

async function upload(transport: Transport, bundle: BackendBundle, dir: string, options: DeployOptions): Promise<void> {
  const directories = new Set(bundle.files.map((file) => posix.dirname(posix.join(dir, file.path))));
  for (const directory of [...directories].sort()) await transport.mkdirp(directory, { signal: options.signal });
  let done = 0;
  const queue = [...bundle.files];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      await transport.writeFile(posix.join(dir, file.path), file.data, { signal: options.signal });
      done++;
      options.onProgress?.({ step: 'upload', message: `Uploaded ${file.path}`, fraction: done / bundle.files.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, queue.length) }, worker));
}

async function runStep(transport: Transport, argv: string[], step: DeployStep, options: DeployOptions, env?: Record<string, string>): Promise<RunResult> {
  const report = (line: string): void => options.onProgress?.({ step, message: line, line });
  return transport.run(argv, { signal: options.signal, env, onStdoutLine: report, onStderrLine: report, maxOutputBytes: 1024 * 1024 });
}

async function runDoctor(transport: Transport, command: string[], env: Record<string, string>, options: DeployOptions): Promise<DoctorReport> {
  options.onProgress?.({ step: 'doctor', message: options.preset ? `Running archloop doctor for the ${options.preset} preset` : 'Running archloop doctor' });
  const presetArgs = options.preset ? ['--preset', options.preset] : [];
  const doctorRun = await transport.run([...command, 'doctor', '--json', ...presetArgs], { signal: options.signal, env, maxOutputBytes: 1024 * 1024 });
  if (doctorRun.code === 127) {
    throw new DeployError('python_missing', 'doctor', `${command[0]} was not found on ${transport.description}.\n${tail(doctorRun.stderr)}`);
  }
  let doctor: DoctorReport;
  try {
    doctor = parseDoctorReport(doctorRun.stdout);
  } catch (error) {
    throw new DeployError('doctor_failed', 'doctor', `archloop doctor failed (exit ${doctorRun.code}): ${describeError(error)}\n${tail(doctorRun.stderr)}`, { cause: error });
  }
  options.onProgress?.({
    step: 'doctor',
    message: doctor.ok ? `Ready: archloop ${doctor.archloop}, Python ${doctor.python}, ${doctor.gpus.length} GPU(s)` : `Not ready: ${doctor.problems.join('; ')}`,
  });
  return doctor;
}

/** Deploys and checks the backend. Rejects only with DeployError (see the module comment for each step). */
export async function deployBackend(transport: Transport, options: DeployOptions): Promise<DeployedBackend> {
  const { signal } = options;
  const progress = (step: DeployStep, message: string): void => options.onProgress?.({ step, message });

  let step: DeployStep = 'bundle';
  try {
    progress('bundle', `Hashing the backend in ${options.sourceDir}`);
    const bundle = await collectBackendBundle(options.sourceDir).catch((error: unknown) => {
      throw new DeployError('sources', 'bundle', describeError(error), { cause: error });
    });
    const root = options.root ?? '~/.archloop/backend';
    const home = await transport.homeDir({ signal });
    const absoluteRoot = root === '~' || root.startsWith('~/') ? posix.join(home, root.slice(1)) : root;
    const dir = posix.join(absoluteRoot, bundle.hash);

    step = 'upload';
    const uploadedHash = await readText(transport, posix.join(dir, UPLOADED_MARKER), signal);
    const uploaded = uploadedHash !== bundle.hash;
    if (uploaded) {
      progress('upload', `Uploading ${bundle.files.length} files (${Math.ceil(bundle.totalBytes / 1024)} KiB) to ${transport.description}:${dir}`);
      await upload(transport, bundle, dir, options);
      await transport.writeFile(posix.join(dir, UPLOADED_MARKER), `${bundle.hash}\n`, { signal });
    } else {
      progress('upload', `Backend ${bundle.hash} is already on ${transport.description}; not uploading`);
    }

    let python: string;
    let env: Record<string, string> = {};
    let installed = false;
    let installedExtras: string[] = [];
    if (options.python) {
      python = options.python;
      env = { PYTHONPATH: dir }; // the uploaded folder holds archloop/ itself
      step = 'install';
      progress('install', `Using ${python} as it is; the backend runs from ${dir}`);
    } else {
      python = posix.join(dir, 'venv', 'bin', 'python');
      const installedMarker = posix.join(dir, INSTALLED_MARKER);
      const marker = parseInstalledMarker(await readText(transport, installedMarker, signal));
      if (marker?.hash === bundle.hash && (await transport.stat(python, { signal }))) {
        installedExtras = marker.extras;
        progress('install', `Reusing the environment in ${dir}/venv${installedExtras.length ? ` (with ${describeExtras(installedExtras)})` : ''}`);
      } else {
        step = 'venv';
        const basePython = options.basePython ?? 'python3';
        progress('venv', `Creating ${dir}/venv with ${basePython} (system site packages: a host's CUDA torch is reused)`);
        const venv = await runStep(transport, [basePython, '-m', 'venv', '--system-site-packages', posix.join(dir, 'venv')], 'venv', options);
        if (venv.code === 127) {
          throw new DeployError('python_missing', 'venv', `${basePython} was not found on ${transport.description}. Install Python 3.10+ there, or name an interpreter in the ArchLoop settings.\n${tail(venv.stderr)}`);
        }
        if (venv.code !== 0) {
          throw new DeployError('venv_failed', 'venv', `Creating the venv failed (exit ${venv.code}). On Debian/Ubuntu install python3-venv.\n${tail(venv.stderr || venv.stdout)}`);
        }
        step = 'install';
        progress('install', `pip install ${dir}`);
        const pip = await runStep(transport, [python, '-m', 'pip', 'install', '--disable-pip-version-check', ...(options.pipArgs ?? []), dir], 'install', options);
        if (pip.code !== 0) {
          throw new DeployError('install_failed', 'install', `pip install of the backend failed (exit ${pip.code}). Check the host can reach a package index, or pass pip arguments.\n${tail(pip.stderr || pip.stdout)}`);
        }
        await transport.writeFile(installedMarker, formatInstalledMarker(bundle.hash, []), { signal });
        installed = true;
      }
    }

    step = 'doctor';
    const command = [python, '-m', 'archloop'];
    let doctor = options.runDoctor === false && !options.preset ? null : await runDoctor(transport, command, env, options);
    // With `python` the user's environment is never modified: doctor's problems say what to install there.
    const missing = options.python ? [] : extrasToInstall(doctor, installedExtras);
    if (missing.length) {
      step = 'install';
      const extras = [...installedExtras, ...missing];
      progress('install', `The ${options.preset} preset needs ${describeExtras(missing)}: pip install ${pipTarget(dir, extras)}`);
      const pip = await runStep(transport, [python, '-m', 'pip', 'install', '--disable-pip-version-check', ...(options.pipArgs ?? []), pipTarget(dir, extras)], 'install', options);
      if (pip.code !== 0) {
        throw new DeployError('install_failed', 'install', `pip install of ${describeExtras(missing)} failed (exit ${pip.code}). Check the host can reach a package index, or pass pip arguments.\n${tail(pip.stderr || pip.stdout)}`);
      }
      await transport.writeFile(posix.join(dir, INSTALLED_MARKER), formatInstalledMarker(bundle.hash, extras), { signal });
      installed = true;
      step = 'doctor';
      doctor = await runDoctor(transport, command, env, options);
    }
    return { dir, hash: bundle.hash, uploaded, installed, python, env, command, doctor };
  } catch (error) {
    throw asDeployError(error, step, `Deploy step ${step} failed`);
  }
}
