/**
 * The I/O half of host-key verification: reads the known_hosts files, asks the user about an unknown key and
 * remembers it. The decision itself is knownHosts.ts. Runs inside ssh2's hostVerifier, i.e. during key exchange,
 * before any credential is sent.
 */

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TransportError } from './errors.js';
import {
  appendLine,
  checkHostKey,
  formatKnownHostsLine,
  keyTypeOfBlob,
  knownHostsName,
  parseKnownHosts,
  sha256Fingerprint,
  type KnownHostsFile,
} from './knownHosts.js';

export interface HostKeyPrompt {
  host: string;
  port: number;
  keyType: string;
  /** As OpenSSH prints it: `SHA256:...`. */
  fingerprint: string;
  /** Where the key will be remembered if the user accepts. */
  knownHostsFile: string;
  /** Key types already trusted for this host (non-empty means the host is not new: be suspicious). */
  otherKeyTypes: string[];
}

/** Returns true to trust and remember the key, false to refuse the connection. */
export type HostKeyCallback = (prompt: HostKeyPrompt, signal: AbortSignal) => Promise<boolean>;

export interface HostKeyPolicy {
  /** Files to read, in order; missing files are skipped. */
  knownHostsFiles: string[];
  /** Where an accepted key is appended. */
  rememberIn: string;
  hashKnownHosts: boolean;
  confirm?: HostKeyCallback;
}

export async function readKnownHostsFiles(paths: readonly string[]): Promise<KnownHostsFile[]> {
  const files: KnownHostsFile[] = [];
  for (const path of paths) {
    try {
      files.push({ path, entries: parseKnownHosts(await readFile(path, 'utf8')) });
    } catch {
      // missing or unreadable: ssh skips such files too
    }
  }
  return files;
}

/**
 * Resolves when the key is trusted (known, or accepted and appended); rejects with TransportError
 * `host_key_changed`, `host_key_revoked`, `host_key_unknown_rejected` or `file` (could not remember it).
 */
export async function verifyHostKey(host: string, port: number, blob: Buffer, policy: HostKeyPolicy, signal: AbortSignal): Promise<void> {
  const files = await readKnownHostsFiles(policy.knownHostsFiles);
  const verdict = checkHostKey(files, host, port, blob);
  const fingerprint = sha256Fingerprint(blob);
  const keyType = keyTypeOfBlob(blob);
  const name = knownHostsName(host, port);
  switch (verdict.status) {
    case 'ok':
      return;
    case 'revoked':
      throw new TransportError(
        'host_key_revoked',
        `The ${keyType} host key of ${name} (${fingerprint}) is marked @revoked in ${verdict.file} line ${verdict.line}. ` +
          'The connection was refused. Ask the host administrator for the new key.',
      );
    case 'changed':
      throw new TransportError(
        'host_key_changed',
        `WARNING: the ${keyType} host key of ${name} has changed (now ${fingerprint}). Someone may be intercepting the ` +
          `connection (a man-in-the-middle attack), or the host was reinstalled. Nothing was sent. If you have confirmed ` +
          `the new key with the host's administrator, remove line ${verdict.line} of ${verdict.file} ` +
          `(ssh-keygen -R '${name}' -f '${verdict.file}') and connect again.`,
      );
    case 'unknown': {
      const prompt: HostKeyPrompt = { host, port, keyType, fingerprint, knownHostsFile: policy.rememberIn, otherKeyTypes: verdict.otherKeyTypes };
      const accepted = policy.confirm ? await policy.confirm(prompt, signal) : false;
      if (!accepted) {
        throw new TransportError(
          'host_key_unknown_rejected',
          `The authenticity of ${name} (${keyType} ${fingerprint}) was not confirmed, so the connection was closed. ` +
            `Compare the fingerprint with the host's (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub there) and accept it.`,
        );
      }
      await rememberHostKey(policy.rememberIn, formatKnownHostsLine(host, port, blob, policy.hashKnownHosts));
      return;
    }
  }
}

async function rememberHostKey(path: string, line: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let existing = '';
    try {
      existing = await readFile(path, 'utf8');
    } catch {
      existing = '';
    }
    await appendFile(path, appendLine(existing, line), { mode: 0o644 });
  } catch (error) {
    throw new TransportError('file', `Could not remember the host key in ${path} (${String(error)}). Check that the file is writable, or choose another known_hosts file.`, { cause: error });
  }
}
