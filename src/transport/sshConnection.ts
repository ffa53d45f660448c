/**
 * Opens an authenticated ssh2 Client to a resolved host, through its ProxyJump hops (each hop's connection carries
 * the next one via `forwardOut` + the `sock` option). Host keys are verified in ssh2's hostVerifier, i.e. before
 * authentication. A connect timeout covers every network step and pauses while a prompt waits for the user;
 * keepalives (ServerAliveInterval/CountMax) detect a dead link afterwards. Every failure is a TransportError.
 */

import { join } from 'node:path';
import { homedir } from 'node:os';
import type { Duplex } from 'node:stream';
import { Client, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { cancelledError } from './abort.js';
import { TransportError, classifyNetworkError, describeError } from './errors.js';
import { verifyHostKey, readKnownHostsFiles, type HostKeyCallback } from './hostKeyCheck.js';
import { knownKeyTypes } from './knownHosts.js';
import { createAuthHandler, type AuthCallbacks } from './sshAuth.js';
import type { ResolvedHost } from './sshConfig.js';

export interface ConnectOptions extends AuthCallbacks {
  /** Asked about unknown host keys; without it unknown hosts are refused. */
  confirmHostKey?: HostKeyCallback;
  /** Where accepted host keys are written; default the host's first UserKnownHostsFile (~/.ssh/known_hosts). */
  knownHostsFile?: string;
  /** Extra known_hosts files to read (after the configured ones). */
  extraKnownHostsFiles?: string[];
  /** Per hop, from the first packet to authenticated (prompt time excluded). Default ConnectTimeout or 20 s. */
  connectTimeoutMs?: number;
  /** Default ServerAliveInterval or 15 s; 0 disables keepalives. */
  keepaliveIntervalMs?: number;
  /** Default ServerAliveCountMax or 3. */
  keepaliveCountMax?: number;
  signal?: AbortSignal;
  /** ssh2 debug lines (very verbose). */
  debug?: (line: string) => void;
}

export interface SshConnection {
  /** The client of the final host. */
  client: Client;
  /** All clients, first hop first, final host last; closing the first drops the whole chain. */
  chain: Client[];
  host: ResolvedHost;
}

// Host-key algorithm names ssh2 knows, by the key type written in known_hosts.
const ALGORITHMS_BY_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/** A timer that fails the connect after `ms` of our own waiting; paused while the user answers a prompt. */
class ConnectDeadline {
  private timer: NodeJS.Timeout | undefined;
  private remaining: number;
  private startedAt = 0;
  private paused = 0;

  constructor(
    ms: number,
    private readonly onExpire: () => void,
  ) {
    this.remaining = ms;
    this.start();
  }

  private start(): void {
    if (this.remaining <= 0) return;
    this.startedAt = Date.now();
    this.timer = setTimeout(this.onExpire, this.remaining);
  }

  /** Stops the clock while `work` (a prompt) is pending. */
  async pauseDuring<T>(work: Promise<T>): Promise<T> {
    if (this.paused++ === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.remaining -= Date.now() - this.startedAt;
    }
    try {
      return await work;
    } finally {
      if (--this.paused === 0) this.start();
    }
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.remaining = 0;
  }
}

function where(host: ResolvedHost): string {
  return `${host.user}@${host.hostName}:${host.port}`;
}

/** Connects one hop; `sock` is the forwarded channel from the previous hop, if any. */
async function connectHop(host: ResolvedHost, sock: Duplex | undefined, options: ConnectOptions, signal: AbortSignal): Promise<Client> {
  const client = new Client();
  const knownHostsFiles = [...host.userKnownHostsFiles, ...host.globalKnownHostsFiles, ...(options.extraKnownHostsFiles ?? [])];
  const rememberIn = options.knownHostsFile ?? host.userKnownHostsFiles[0] ?? join(homedir(), '.ssh', 'known_hosts');
  const preferred = knownKeyTypes(await readKnownHostsFiles(knownHostsFiles), host.hostName, host.port).flatMap((type) => ALGORITHMS_BY_KEY_TYPE[type] ?? []);

  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    // The precise reason (host key, auth) beats ssh2's generic error that follows it.
    let reason: TransportError | undefined;
    const fail = (error: TransportError): void => {
      if (settled) return;
      settled = true;
      deadline.clear();
      signal.removeEventListener('abort', onAbort);
      // destroy() alone: after end() ssh2 no longer destroys the socket, which would keep it open forever.
      client.destroy();
      reject(error);
    };
    const timeoutMs = options.connectTimeoutMs ?? host.connectTimeoutMs ?? 20_000;
    const deadline = new ConnectDeadline(timeoutMs, () =>
      fail(new TransportError('timeout', `${where(host)} did not complete the SSH handshake within ${Math.round(timeoutMs / 1000)} s. Check the host is up and reachable (VPN, firewall), or raise ConnectTimeout.`)),
    );
    const onAbort = (): void => fail(cancelledError(`Connecting to ${where(host)}`));
    signal.addEventListener('abort', onAbort, { once: true });

    const auth = createAuthHandler(host, options, signal, (work) => deadline.pauseDuring(work));
    client.on('ready', () => {
      if (settled) return;
      settled = true;
      deadline.clear();
      signal.removeEventListener('abort', onAbort);
      resolve(client);
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (reason) return fail(reason);
      if (error.level === 'client-authentication') return fail(auth.failure(null));
      if (error.level === 'client-socket') return fail(classifyNetworkError(error, where(host)));
      fail(new TransportError('disconnected', `The SSH handshake with ${where(host)} failed: ${describeError(error)}.`, { cause: error }));
    });
    client.on('close', () => fail(reason ?? new TransportError('disconnected', `${where(host)} closed the connection during the handshake. Check the host's sshd log (MaxStartups, AllowUsers, a firewall).`)));

    const config: ConnectConfig = {
      host: host.hostName,
      port: host.port,
      username: host.user,
      sock: sock as ConnectConfig['sock'],
      readyTimeout: 0, // our ConnectDeadline replaces it: it must not run while the user types a passphrase
      keepaliveInterval: options.keepaliveIntervalMs ?? host.serverAliveIntervalMs ?? 15_000,
      keepaliveCountMax: options.keepaliveCountMax ?? host.serverAliveCountMax ?? 3,
      authHandler: auth.handler,
      algorithms: preferred.length > 0 ? { serverHostKey: { remove: preferred, prepend: preferred } as unknown as ServerHostKeyAlgorithm[] } : undefined,
      hostVerifier: (key: Buffer, verified: (valid: boolean) => void) => {
        deadline
          .pauseDuring(verifyHostKey(host.hostName, host.port, key, { knownHostsFiles, rememberIn, hashKnownHosts: host.hashKnownHosts, confirm: options.confirmHostKey }, signal))
          .then(
            () => verified(true),
            (error: unknown) => {
              reason = error instanceof TransportError ? error : new TransportError('host_key_unknown_rejected', describeError(error));
              verified(false);
            },
          );
      },
      debug: options.debug,
    };
    try {
      client.connect(config);
    } catch (error) {
      fail(new TransportError('config', `Cannot connect to ${where(host)}: ${describeError(error)}.`, { cause: error }));
    }
  });
}

function forward(client: Client, host: ResolvedHost, signal: AbortSignal): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    if (signal.aborted) return reject(cancelledError(`Connecting to ${where(host)}`));
    const opened = (error: Error | undefined, stream?: unknown): void => {
      if (error || !stream) {
        reject(new TransportError('channel_open', `The jump host could not reach ${host.hostName}:${host.port} (${error?.message}). Check HostName/Port of that host and that the jump host allows TCP forwarding.`, { cause: error }));
      } else {
        resolve(stream as Duplex);
      }
    };
    try {
      client.forwardOut('127.0.0.1', 0, host.hostName, host.port, opened);
    } catch (error) {
      opened(error as Error); // the jump host's connection went away
    }
  });
}

/**
 * Connects to `host` through its ProxyJump hops. Rejects with a TransportError (dns, refused, timeout, auth,
 * host_key_*, channel_open, disconnected, cancelled); on failure every hop already opened is closed.
 */
export async function connectSsh(host: ResolvedHost, options: ConnectOptions = {}): Promise<SshConnection> {
  const signal = options.signal ?? new AbortController().signal;
  const hops = [...host.proxyJump, { ...host, proxyJump: [] }];
  const chain: Client[] = [];
  try {
    let sock: Duplex | undefined;
    for (const [index, hop] of hops.entries()) {
      if (index > 0) sock = await forward(chain[index - 1] as Client, hop, signal);
      chain.push(await connectHop(hop, sock, options, signal));
    }
  } catch (error) {
    for (const client of chain.reverse()) client.end();
    throw error;
  }
  return { client: chain[chain.length - 1] as Client, chain, host };
}
