/**
 * A connection to one host (the local machine or an SSH host) and the backend on it: what "Connect to Host…"
 * produces. Plain Node; the UI passes its prompts in as callbacks.
 *
 * Failure behaviour: connectLocal/connectSsh reject with the transport's TransportError (host key refused, auth
 * failed, unreachable) or a DeployError (the backend could not be put on the host); nothing half-open is left
 * behind: a failed deploy closes the SSH connection. After a drop, `backend.transport()` opens a new connection.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport } from '../transport/localTransport';
import { SshTransport, type OpenSshOptions } from '../transport/sshTransport';
import type { Backend } from './backendCommands';
import { deployBackend, type DeployOptions, type DeployedBackend } from './deploy';
import { LOCAL_HOST } from './hostChoices';
import { reconnectingTransport } from './transportSource';

export interface HostConnection {
  /** The name shown in the tree ("Local" or the SSH target as typed). */
  readonly name: string;
  readonly kind: 'local' | 'ssh';
  readonly backend: Backend;
  /** The doctor report from deploying, when one ran. */
  readonly deployed: DeployedBackend | null;
  /**
   * Readies the backend for a run of `preset`: on an SSH host, deploys again with the preset (cheap: the upload and
   * venv are reused), which installs the extras it needs (the gpu extra for 4-bit/8-bit) and reports it in progress.
   * Local mode runs the given interpreter as it is: nothing to install.
   */
  prepare(preset: string, options?: { signal?: AbortSignal; onProgress?: DeployOptions['onProgress'] }): Promise<void>;
  close(): Promise<void>;
}

export interface LocalHostOptions {
  /** The Python with `archloop` importable (the project's venv in development, npm start and the e2e tests). */
  python: string;
  /** Where runs live; `~/` is the user's home. */
  runRoot: string;
}

/** Local mode: child processes, no SSH, no deploy. Never rejects. */
export function connectLocal(options: LocalHostOptions): HostConnection {
  const transport = new LocalTransport();
  return {
    name: LOCAL_HOST,
    kind: 'local',
    backend: { transport: async () => transport, python: options.python, runRoot: expandHome(options.runRoot) },
    deployed: null,
    prepare: async () => {},
    close: () => transport.close(),
  };
}

export interface SshHostOptions {
  readonly target: string;
  readonly ssh: OpenSshOptions;
  readonly deploy: Omit<DeployOptions, 'signal'>;
  /** Where runs live on the host. */
  readonly runRoot: string;
  readonly signal?: AbortSignal;
}

/** Connects, deploys (or reuses) the backend, and returns a connection whose backend reconnects after a drop. */
export async function connectSsh(options: SshHostOptions): Promise<HostConnection> {
  // reconnectingTransport shares one reconnect among concurrent callers and retries after a failed one.
  const source = reconnectingTransport((signal) => SshTransport.open(options.target, { ...options.ssh, ...(signal ? { signal } : {}) }));
  const transport = await source.get(options.signal);
  let deployed: DeployedBackend;
  try {
    deployed = await deployBackend(transport, { ...options.deploy, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    await source.close();
    throw error;
  }
  let closed = false;
  const backend: Backend = {
    python: deployed.python,
    runRoot: options.runRoot,
    // With `deploy.python` the uploaded package runs through PYTHONPATH: every command needs it, not just doctor.
    env: deployed.env,
    transport: async (signal) => {
      if (closed) throw new Error(`the connection to ${options.target} was closed`);
      return source.get(signal);
    },
  };
  const connection = {
    name: options.target,
    kind: 'ssh' as const,
    backend,
    deployed,
    prepare: async (preset: string, prepareOptions: { signal?: AbortSignal; onProgress?: DeployOptions['onProgress'] } = {}) => {
      const again = await deployBackend(await source.get(prepareOptions.signal), {
        ...options.deploy,
        preset,
        ...(prepareOptions.onProgress ? { onProgress: prepareOptions.onProgress } : {}),
        ...(prepareOptions.signal ? { signal: prepareOptions.signal } : {}),
      });
      connection.deployed = again;
    },
    close: async () => {
      closed = true;
      await source.close();
    },
  };
  return connection;
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}
