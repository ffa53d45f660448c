/**
 * Encoding and decoding of wire messages: one JSON object per line (DESIGN.md "The wire protocol").
 * The decoder never throws into its caller: every bad line becomes a classified Rejection and the stream goes on.
 */
import { isUtf8 } from 'node:buffer';
import type { z } from 'zod';
import { DEFAULT_MAX_LINE_BYTES, LineFramer, isRejection, type Frame } from './lineFramer';
import { previewOf, type Rejection, type RejectionReason } from './rejection';

export type Decoded<T> = { ok: true; message: T; lineNumber: number } | { ok: false; rejection: Rejection };

export interface DecoderOptions {
  /** Longest accepted line in bytes, without its '\n'. Default 8 MiB. */
  maxLineBytes?: number;
}

/** Keys that would change an object's prototype (or look like an attempt to) if copied into a plain object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Raw-line test for the deep key scan; '\\u' because a key can spell "__proto__" with JSON escapes. */
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;
const DISCRIMINATOR_REASONS: Record<string, RejectionReason> = { type: 'unknown_type', kind: 'unknown_kind', method: 'unknown_method' };
const MAX_ISSUES_SHOWN = 3;

/** One message as one line: compact JSON and '\n' (JSON escapes every newline inside strings). */
export function encodeMessage(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

/** Decodes a stream of chunks (any boundaries) into messages of `schema`, in order. */
export class MessageDecoder<S extends z.ZodType> {
  private readonly framer: LineFramer;
  private readonly frames: Frame[] = [];

  constructor(
    private readonly schema: S,
    options: DecoderOptions = {},
  ) {
    this.framer = new LineFramer(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  }

  /** Feeds one chunk; returns what it completed (messages and rejections, in stream order). Never throws. */
  push(chunk: Uint8Array | string): Decoded<z.output<S>>[] {
    return this.drain(() => this.framer.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk, this.frames));
  }

  /** Ends the stream: decodes a last line that lacked its '\n'. Never throws. */
  end(): Decoded<z.output<S>>[] {
    return this.drain(() => this.framer.end(this.frames));
  }

  private drain(feed: () => void): Decoded<z.output<S>>[] {
    const results: Decoded<z.output<S>>[] = [];
    try {
      feed();
    } catch (error) {
      // Only a bug can land here; report it as a rejection rather than break the caller's read loop.
      results.push({ ok: false, rejection: internalRejection(error) });
    }
    for (const frame of this.frames) {
      if (isRejection(frame)) {
        results.push({ ok: false, rejection: frame });
        continue;
      }
      const decoded = decodeLineBytes(frame.bytes, frame.lineNumber, this.schema);
      if (decoded !== null) results.push(decoded);
    }
    this.frames.length = 0;
    return results;
  }
}

/** Decodes one line (without its '\n') against `schema`; null for a blank line. Never throws. */
export function decodeLine<S extends z.ZodType>(line: string, schema: S, lineNumber = 1): Decoded<z.output<S>> | null {
  return decodeLineBytes(Buffer.from(line, 'utf8'), lineNumber, schema);
}

function decodeLineBytes<S extends z.ZodType>(bytes: Buffer, lineNumber: number, schema: S): Decoded<z.output<S>> | null {
  const reject = (reason: RejectionReason, detail: string, requestId?: number | string): Decoded<z.output<S>> => ({
    ok: false,
    rejection: { reason, detail, preview: previewOf(bytes), lineNumber, bytes: bytes.length, ...(requestId === undefined ? {} : { requestId }) },
  });
  try {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 13) end -= 1; // tolerate CRLF senders
    if (!isUtf8(bytes)) return reject('invalid_utf8', 'line is not valid UTF-8');
    const text = bytes.toString('utf8', 0, end);
    if (text.trim() === '') return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return reject('invalid_json', `not JSON: ${(error as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return reject('not_an_object', `a message must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
    }
    if (MAY_HOLD_FORBIDDEN_KEY.test(text)) {
      const path = findForbiddenKey(value);
      if (path !== null) return reject('forbidden_key', `forbidden key at ${path}`);
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return { ok: true, message: parsed.data as z.output<S>, lineNumber };
    const [reason, detail] = describeIssues(parsed.error.issues, value as Record<string, unknown>);
    return reject(reason, detail, responseId(value as Record<string, unknown>));
  } catch (error) {
    return { ok: false, rejection: { ...internalRejection(error), preview: previewOf(bytes), lineNumber, bytes: bytes.length } };
  }
}

/** Searches for a forbidden own key at any depth; returns its JSON path or null. Iterative: JSON nests deeper than the stack. */
function findForbiddenKey(root: unknown): string | null {
  const stack: Array<[unknown, string]> = [[root, '']];
  while (stack.length > 0) {
    const [value, path] = stack.pop() as [unknown, string];
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}[${i}]`]);
      continue;
    }
    for (const key of Object.keys(value)) {
      const keyPath = path === '' ? key : `${path}.${key}`;
      if (FORBIDDEN_KEYS.has(key)) return keyPath;
      stack.push([(value as Record<string, unknown>)[key], keyPath]);
    }
  }
  return null;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(message)' : path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

function describeIssues(issues: readonly z.core.$ZodIssue[], value: Record<string, unknown>): [RejectionReason, string] {
  const first = issues[0];
  if (first?.code === 'invalid_union' && 'discriminator' in first && typeof first.discriminator === 'string') {
    const field = first.discriminator;
    const reason = DISCRIMINATOR_REASONS[field];
    const got = lookup(value, first.path);
    if (reason !== undefined && typeof got === 'string') {
      return [reason, `unknown ${field} ${JSON.stringify(got.slice(0, 64))}; expected one of ${(first as { options?: unknown[] }).options?.join(', ') ?? '?'}`];
    }
    if (got === undefined) return ['invalid_message', `${formatPath(first.path)}: missing`];
  }
  const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  const more = issues.length > MAX_ISSUES_SHOWN ? ` (and ${issues.length - MAX_ISSUES_SHOWN} more)` : '';
  return ['invalid_message', shown.join('; ') + more];
}

function lookup(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** The id of a malformed response, if usable, so the client can fail that request instead of waiting for a timeout. */
function responseId(value: Record<string, unknown>): number | string | undefined {
  if (value.type !== 'response') return undefined;
  const id = value.id;
  if ((typeof id === 'number' && Number.isInteger(id) && id >= 0) || (typeof id === 'string' && id.length > 0 && id.length <= 64)) return id;
  return undefined;
}

function internalRejection(error: unknown): Rejection {
  return {
    reason: 'internal',
    detail: `decoder error (a bug, please report): ${error instanceof Error ? error.message : String(error)}`,
    preview: '',
    lineNumber: 0,
    bytes: 0,
  };
}
