/**
 * A private OpenSSH server on 127.0.0.1 for tests: its own config, host key, authorized keys and PidFile in a temp
 * directory, on a free high port, as the current user (root in CI, hence PermitRootLogin prohibit-password).
 * Nothing of the system's sshd or ~/.ssh is touched. Also makes client keys and runs ssh-agent.
 *
 *   const sshd = await startSshd();
 *   const key = makeKey(sshd.dir, 'client');
 *   sshd.authorize(key.publicLine);
 *   ... connect to sshd.port as sshd.user ...
 *   await sshd.stop();
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  privatePath: string;
  /** The `.pub` line: `ssh-ed25519 AAAA... comment`. */
  publicLine: string;
  /** The public key blob (what a server sends / known_hosts stores, decoded). */
  blob: Buffer;
}

export interface Sshd {
  host: '127.0.0.1';
  port: number;
  /** The user to log in as (the current user). */
  user: string;
  /** Temp directory holding everything; removed by stop(). */
  dir: string;
  hostKey: KeyPair;
  /** Adds a line to the server's authorized_keys. */
  authorize(publicLine: string): void;
  /** A known_hosts line for this server's host key (`[127.0.0.1]:port ssh-ed25519 ...`). */
  knownHostsLine(): string;
  /** PIDs of the per-connection sshd processes (children of the listener). */
  connectionPids(): number[];
  /** What sshd logged so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Extra sshd_config lines (e.g. `AllowTcpForwarding no`); they take precedence over the defaults. */
  extraConfig?: string[];
  /** Reuse this directory for files instead of a new temp dir (it is not removed by stop()). */
  dir?: string;
  /** Name prefix of the host key file, so two servers in one dir differ. */
  name?: string;
}

export function sshdPath(): string {
  for (const candidate of ['/usr/sbin/sshd', '/usr/bin/sshd', '/usr/local/sbin/sshd']) if (existsSync(candidate)) return candidate;
  return execFileSync('sh', ['-c', 'command -v sshd']).toString().trim();
}

/** Makes a key pair with ssh-keygen (ed25519; `rounds` keeps bcrypt fast for encrypted test keys). */
export function makeKey(dir: string, name: string, options: { passphrase?: string; type?: 'ed25519' | 'rsa' | 'ecdsa' } = {}): KeyPair {
  const privatePath = join(dir, name);
  const type = options.type ?? 'ed25519';
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-a', '2', '-N', options.passphrase ?? '', '-C', `archloop-test-${name}`, '-f', privatePath]);
  const publicLine = readFileSync(`${privatePath}.pub`, 'utf8').trim();
  return { privatePath, publicLine, blob: Buffer.from(publicLine.split(/\s+/)[1] ?? '', 'base64') };
}

/**
 * A user's home under `dir` that reaches `sshd` as host `alias` the way a user's would: a fresh key it authorizes,
 * the server's key in known_hosts, and a Host block in ~/.ssh/config. Returns the home's path.
 */
export function clientHome(dir: string, sshd: Sshd, alias = 'gpu'): string {
  const home = mkdtempSync(join(dir, 'home-'));
  const key = makeKey(home, 'id');
  sshd.authorize(key.publicLine);
  mkdirSync(join(home, '.ssh'));
  writeFileSync(join(home, '.ssh', 'known_hosts'), `${sshd.knownHostsLine()}\n`);
  writeFileSync(join(home, '.ssh', 'config'), [`Host ${alias}`, '  HostName 127.0.0.1', `  Port ${sshd.port}`, `  User ${sshd.user}`, `  IdentityFile ${key.privatePath}`, ''].join('\n'));
  return home;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the port answers with an SSH banner. */
async function waitForBanner(port: number, child: ChildProcess, log: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('SSH-'));
      });
      socket.once('error', () => resolve(false));
      socket.setTimeout(1000, () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not answer on port ${port} within ${timeoutMs} ms:\n${log()}`);
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'archloop-sshd-'));
  const name = options.name ?? 'sshd';
  const user = userInfo().username;
  // sshd insists on its privilege-separation directory when started as root.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = makeKey(dir, `${name}_host_ed25519`);
  const authorizedKeys = join(dir, `${name}_authorized_keys`);
  writeFileSync(authorizedKeys, '', { mode: 0o600 });

  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const configPath = join(dir, `${name}_config`);
    writeFileSync(
      configPath,
      [
        // sshd keeps the first value of an option, so the caller's lines go first to override the defaults below.
        ...(options.extraConfig ?? []),
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKey.privatePath}`,
        `PidFile ${join(dir, `${name}.pid`)}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'StrictModes no',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PubkeyAuthentication yes',
        'AllowTcpForwarding yes',
        'Subsystem sftp internal-sftp',
        'LogLevel VERBOSE',
        'MaxStartups 50',
        '',
      ].join('\n'),
    );
    const child = spawn(sshdPath(), ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logText = '';
    child.stderr?.on('data', (chunk: Buffer) => (logText += chunk.toString()));
    const log = (): string => logText;
    try {
      await waitForBanner(port, child, log);
    } catch (error) {
      child.kill('SIGKILL');
      if (tries < 3 && /Address already in use/.test(logText)) continue; // another test took the port meanwhile
      throw error;
    }
    let stopped: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      user,
      dir,
      hostKey,
      authorize: (publicLine) => appendFileSync(authorizedKeys, `${publicLine}\n`),
      knownHostsLine: () => `[127.0.0.1]:${port} ${hostKey.publicLine.split(/\s+/).slice(0, 2).join(' ')}`,
      connectionPids: () => {
        try {
          return execFileSync('pgrep', ['-P', String(child.pid)]).toString().split(/\s+/).filter(Boolean).map(Number);
        } catch {
          return []; // pgrep exits 1 when there are none
        }
      },
      log,
      stop: () => {
        stopped ??= new Promise<void>((resolve) => {
          for (const pid of execFileSync('sh', ['-c', `pgrep -P ${child.pid} || true`]).toString().split(/\s+/).filter(Boolean)) {
            signalIfAlive(Number(pid), 'SIGKILL');
          }
          if (child.exitCode !== null) resolve();
          else {
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }
        }).then(() => {
          if (ownDir) rmSync(dir, { recursive: true, force: true });
        });
        return stopped;
      },
    };
  }
}

/**
 * Sends `signal` unless the process is already gone (ESRCH): sshd reaps its per-connection children at any moment,
 * so a pid read a millisecond ago may no longer exist. Any other error is a real failure and is thrown.
 */
export function signalIfAlive(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

export interface Agent {
  socket: string;
  add(privatePath: string): void;
  stop(): void;
}

/** Starts a private ssh-agent (socket in `dir`) for agent-auth tests. */
export function startAgent(dir: string): Agent {
  const socket = join(dir, `agent-${process.pid}-${Date.now()}.sock`);
  const output = execFileSync('ssh-agent', ['-s', '-a', socket]).toString();
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(output)?.[1]);
  return {
    socket,
    add: (privatePath) => execFileSync('ssh-add', ['-q', privatePath], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'pipe' }),
    stop: () => void signalIfAlive(pid, 'SIGTERM'),
  };
}
