/**
 * Loads private keys for public-key authentication. An encrypted key's passphrase is asked through the UI's
 * callback (up to `maxAttempts` times, like ssh's NumberOfPasswordPrompts) and only ever held in memory: the parsed
 * key is handed to ssh2 and neither the passphrase nor the decrypted key is written anywhere.
 */

import { readFile } from 'node:fs/promises';
import { utils, type ParsedKey } from 'ssh2';
import { abortable, throwIfAborted } from './abort.js';

export interface PassphraseRequest {
  keyFile: string;
  /** 1 for the first ask, 2 after one wrong passphrase, ... */
  attempt: number;
}

/** Returns the passphrase, or undefined to skip this key. */
export type PassphraseCallback = (request: PassphraseRequest, signal: AbortSignal) => Promise<string | undefined>;

export type LoadedIdentity =
  | { status: 'loaded'; keyFile: string; key: ParsedKey }
  | { status: 'missing'; keyFile: string }
  | { status: 'skipped'; keyFile: string; reason: string };

function isEncryptedKeyError(error: Error): boolean {
  return /encrypted|passphrase/i.test(error.message);
}

function firstKey(parsed: ParsedKey | ParsedKey[] | Error): ParsedKey | Error {
  return Array.isArray(parsed) ? (parsed[0] ?? new Error('the file holds no key')) : parsed;
}

/**
 * Reads and parses one identity file. Never throws for a bad or missing key (the next method is tried instead);
 * throws TransportError `cancelled` only if `signal` fires.
 */
export async function loadIdentity(keyFile: string, askPassphrase: PassphraseCallback | undefined, signal: AbortSignal, maxAttempts = 3): Promise<LoadedIdentity> {
  throwIfAborted(signal, 'Loading the SSH key');
  let data: Buffer;
  try {
    data = await readFile(keyFile);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') return { status: 'missing', keyFile };
    return { status: 'skipped', keyFile, reason: `cannot be read (${code ?? String(error)})` };
  }
  const plain = firstKey(utils.parseKey(data));
  if (!(plain instanceof Error)) return { status: 'loaded', keyFile, key: plain };
  if (!isEncryptedKeyError(plain)) return { status: 'skipped', keyFile, reason: `is not a private key ssh2 can read (${plain.message})` };
  if (!askPassphrase) return { status: 'skipped', keyFile, reason: 'is encrypted and no passphrase prompt is available' };
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const passphrase = await abortable(askPassphrase({ keyFile, attempt }, signal), signal, 'The passphrase prompt');
    if (passphrase === undefined) return { status: 'skipped', keyFile, reason: 'passphrase not given' };
    const decrypted = firstKey(utils.parseKey(data, passphrase));
    if (!(decrypted instanceof Error)) return { status: 'loaded', keyFile, key: decrypted };
  }
  return { status: 'skipped', keyFile, reason: `wrong passphrase (${maxAttempts} attempts)` };
}
