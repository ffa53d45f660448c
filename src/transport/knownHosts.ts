/**
 * known_hosts checking, as OpenSSH does it, with no I/O: the caller reads the files and writes the line we return.
 *
 * Supported: plain host lists (`a,b,10.0.0.1`), `[host]:port` for non-22 ports, wildcards `*` and `?`, negations
 * `!pattern` (a negated match excludes the line), hashed names (`|1|salt|hash`, HMAC-SHA1 of the name keyed by the
 * salt), `@revoked` (the key is refused for every host, as OpenSSH does) and comments.
 * `@cert-authority` lines are skipped: ArchLoop does not verify host certificates, so a host that only has a CA
 * line is treated as unknown and the user is asked.
 */

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface KnownHostEntry {
  /** 1-based line number in its file. */
  line: number;
  marker: 'revoked' | 'cert-authority' | null;
  /** Either the comma-separated pattern list or one hashed name `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The base64 key blob as written in the file. */
  keyBase64: string;
}

export interface KnownHostsFile {
  path: string;
  entries: KnownHostEntry[];
}

export type HostKeyVerdict =
  | { status: 'ok'; file: string; line: number }
  | { status: 'unknown'; otherKeyTypes: string[] }
  | { status: 'changed'; file: string; line: number; knownKeyType: string }
  | { status: 'revoked'; file: string; line: number };

/** Parses known_hosts text; malformed lines are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields.length === 0 || fields[0] === '' || fields[0]?.startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else return; // unknown marker: ignore the line rather than misread it
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) return;
    entries.push({ line: index + 1, marker, hosts, keyType, keyBase64 });
  });
  return entries;
}

/** The name a host is stored under: `host` on port 22, `[host]:port` otherwise (lower-cased, as ssh does). */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

function wildcardToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function hashedNameMatches(hashed: string, name: string): boolean {
  const parts = hashed.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2] ?? '', 'base64');
  const expected = Buffer.from(parts[3] ?? '', 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** True if `name` (from knownHostsName) is matched by the entry's host field. */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedNameMatches(hosts, name);
  let matched = false;
  for (const pattern of hosts.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardToRegExp(pattern.slice(1)).test(name)) return false;
    } else if (wildcardToRegExp(pattern).test(name)) {
      matched = true;
    }
  }
  return matched;
}

/** The key type stored at the start of an SSH public key blob (e.g. `ssh-ed25519`). */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  if (length > blob.length - 4 || length > 64) return 'unknown';
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** The fingerprint as OpenSSH prints it: `SHA256:` + unpadded base64 of sha256 over the key blob. */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Decides what to do with the key a server offered. Revocation wins over everything; then a matching line with
 * the same key type is `ok` or, if its key differs, `changed`. Lines of other key types do not make a key
 * `changed` (servers have several keys), but are reported so the prompt can say the host is not new.
 */
export function checkHostKey(files: readonly KnownHostsFile[], host: string, port: number, blob: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const keyType = keyTypeOfBlob(blob);
  const offered = blob.toString('base64');
  for (const file of files) {
    for (const entry of file.entries) {
      if (entry.marker === 'revoked' && entry.keyBase64 === offered) return { status: 'revoked', file: file.path, line: entry.line };
    }
  }
  let changed: HostKeyVerdict | undefined;
  const otherKeyTypes = new Set<string>();
  for (const file of files) {
    for (const entry of file.entries) {
      if (entry.marker !== null || !hostFieldMatches(entry.hosts, name)) continue;
      if (entry.keyType !== keyType) {
        otherKeyTypes.add(entry.keyType);
      } else if (entry.keyBase64 === offered) {
        return { status: 'ok', file: file.path, line: entry.line };
      } else {
        changed ??= { status: 'changed', file: file.path, line: entry.line, knownKeyType: entry.keyType };
      }
    }
  }
  return changed ?? { status: 'unknown', otherKeyTypes: [...otherKeyTypes].sort() };
}

/** The key types already known for a host, so the client can ask the server for one of those first. */
export function knownKeyTypes(files: readonly KnownHostsFile[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const types = new Set<string>();
  for (const file of files) {
    for (const entry of file.entries) {
      if (entry.marker === null && hostFieldMatches(entry.hosts, name)) types.add(entry.keyType);
    }
  }
  return [...types];
}

/** The line to append for a newly trusted key (no trailing newline). `salt` is for tests; default random. */
export function formatKnownHostsLine(host: string, port: number, blob: Buffer, hashed: boolean, salt: Buffer = randomBytes(20)): string {
  const name = knownHostsName(host, port);
  const hostField = hashed ? `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}` : name;
  return `${hostField} ${keyTypeOfBlob(blob)} ${blob.toString('base64')}`;
}

/** The text to append to an existing file's content: adds the missing newline before our line. */
export function appendLine(existing: string, line: string): string {
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  return `${separator}${line}\n`;
}
