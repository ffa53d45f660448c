/**
 * Encoding and decoding of wire messages: one JSON object per line (docs/DESIGN.md, "The wire protocol").
 * The decoder never throws into its caller: every bad line becomes a classified Rejection and the stream goes on.
 */
import { isUtf8 } from 'node:buffer';
import type { z } from 'zod';
import { compileDispatch, type Dispatch } from './dispatch';
import { DEFAULT_MAX_LINE_BYTES, LineFramer, isRejection, type Frame } from './lineFramer';
import { previewOf, type Rejection, type RejectionReason } from './rejection';

export type Decoded<T> = { ok: true; message: T; lineNumber: number } | { ok: false; rejection: Rejection };

export interface DecoderOptions {
  /** Longest accepted line in bytes, without its '\n'. Default 8 MiB. */
  maxLineBytes?: number;
}

/** Keys that would change an object's prototype (or look like an attempt to) if copied into a plain object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const DISCRIMINATOR_REASONS: Record<string, RejectionReason> = { type: 'unknown_type', kind: 'unknown_kind', method: 'unknown_method' };
const MAX_ISSUES_SHOWN = 3;

/**
 * One message as one line: compact JSON and '\n' (JSON escapes every newline inside strings, so a message is never
 * split). Takes `unknown` so callers can encode a request built from a generic method/params pair; it does not
 * validate (the receiver does). Throws only for what JSON cannot hold (a BigInt, a cycle): a programming error.
 */
export function encodeMessage(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

/** Decodes a stream of chunks (any boundaries) into messages of `schema`, in order. */
export class MessageDecoder<S extends z.ZodType> {
  private readonly framer: LineFramer;
  private readonly frames: Frame[] = [];
  private readonly dispatch: Dispatch;

  constructor(schema: S, options: DecoderOptions = {}) {
    this.framer = new LineFramer(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.dispatch = compileDispatch(schema);
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
      results.push({ ok: false, rejection: { reason: 'internal', detail: internalDetail(error), preview: '', lineNumber: 0, bytes: 0 } });
    }
    for (const frame of this.frames) {
      if (isRejection(frame)) {
        results.push({ ok: false, rejection: frame });
        continue;
      }
      const decoded = decodeLineBytes<z.output<S>>(frame.bytes, frame.lineNumber, this.dispatch);
      if (decoded !== null) results.push(decoded);
    }
    this.frames.length = 0;
    return results;
  }
}

/** Decodes one line (without its '\n') against `schema`; null for a blank line. Never throws. For a stream, use a
 *  MessageDecoder: it builds the dispatch table once instead of per call. */
export function decodeLine<S extends z.ZodType>(line: string, schema: S, lineNumber = 1): Decoded<z.output<S>> | null {
  return decodeLineBytes<z.output<S>>(Buffer.from(line, 'utf8'), lineNumber, compileDispatch(schema));
}

interface Failure {
  reason: RejectionReason;
  detail: string;
  requestId?: number | string;
}

function decodeLineBytes<T>(bytes: Buffer, lineNumber: number, dispatch: Dispatch): Decoded<T> | null {
  let outcome: { message: unknown } | Failure | null;
  try {
    outcome = validateLine(bytes, dispatch);
  } catch (error) {
    // Only a bug can land here; report it as a rejection rather than break the caller's read loop.
    outcome = { reason: 'internal', detail: internalDetail(error) };
  }
  if (outcome === null) return null;
  if ('message' in outcome) return { ok: true, message: outcome.message as T, lineNumber };
  const rejection: Rejection = { reason: outcome.reason, detail: outcome.detail, preview: previewOf(bytes), lineNumber, bytes: bytes.length };
  if (outcome.requestId !== undefined) rejection.requestId = outcome.requestId;
  return { ok: false, rejection };
}

/** The checks in order, cheapest first; null for a blank line. */
function validateLine(bytes: Buffer, dispatch: Dispatch): { message: unknown } | Failure | null {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 13) end -= 1; // tolerate CRLF senders
  if (!isUtf8(bytes)) return { reason: 'invalid_utf8', detail: 'line is not valid UTF-8' };
  const text = bytes.toString('utf8', 0, end);
  if (text.charCodeAt(0) !== 123 /* '{' */ && text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { reason: 'invalid_json', detail: `not JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    return { reason: 'not_an_object', detail: `a message must be a JSON object, got ${got}` };
  }
  if (hasForbiddenKey(value, 0)) {
    const path = findForbiddenKey(value);
    if (path !== null) return { reason: 'forbidden_key', detail: `forbidden key at ${path}` };
  }
  const record = value as Record<string, unknown>;
  let node = dispatch;
  while (node.kind === 'switch') {
    const tag = Object.hasOwn(record, node.field) ? record[node.field] : undefined;
    const next = node.cases.get(tag);
    if (next === undefined) return { ...describeUnknownTag(node, tag), requestId: responseId(record) };
    node = next;
  }
  const parsed = node.schema.safeParse(value);
  if (parsed.success) return { message: parsed.data };
  return { ...describeIssues(parsed.error.issues), requestId: responseId(record) };
}

/**
 * Whether a forbidden own key occurs at any depth. Walking the parsed keys costs about a third of scanning the raw line
 * for the words (measured on the bench mix: long code strings make text scans dear, keys are few), so every line gets it.
 */
function hasForbiddenKey(value: object, depth: number): boolean {
  if (depth > 100) return true; // too deep to recurse safely: the iterative findForbiddenKey decides
  if (Array.isArray(value)) {
    for (const item of value) if (typeof item === 'object' && item !== null && hasForbiddenKey(item, depth + 1)) return true;
    return false;
  }
  // for...in is safe here: JSON.parse objects inherit only non-enumerable keys, and "__proto__" from JSON is an own key.
  for (const key in value) {
    if (FORBIDDEN_KEYS.has(key)) return true;
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && hasForbiddenKey(item, depth + 1)) return true;
  }
  return false;
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

function describeUnknownTag(node: Extract<Dispatch, { kind: 'switch' }>, tag: unknown): Failure {
  if (tag === undefined) return { reason: 'invalid_message', detail: `${node.field}: missing` };
  const expected = [...node.cases.keys()].map(String).join(', ');
  const reason = DISCRIMINATOR_REASONS[node.field];
  if (reason !== undefined && typeof tag === 'string') {
    return { reason, detail: `unknown ${node.field} ${JSON.stringify(tag.slice(0, 64))}; expected one of ${expected}` };
  }
  return { reason: 'invalid_message', detail: `${node.field}: expected one of ${expected}, got ${JSON.stringify(tag)?.slice(0, 64) ?? typeof tag}` };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(message)' : path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

/** Issues from a leaf object schema (the dispatch already settled the discriminators), or from a non-union schema. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): Failure {
  const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  const more = issues.length > MAX_ISSUES_SHOWN ? ` (and ${issues.length - MAX_ISSUES_SHOWN} more)` : '';
  return { reason: 'invalid_message', detail: shown.join('; ') + more };
}

/** The id of a malformed response, if usable, so the client can fail that request instead of waiting for a timeout. */
function responseId(value: Record<string, unknown>): number | string | undefined {
  if (value.type !== 'response') return undefined;
  const id = value.id;
  if ((typeof id === 'number' && Number.isInteger(id) && id >= 0) || (typeof id === 'string' && id.length > 0 && id.length <= 64)) return id;
  return undefined;
}

function internalDetail(error: unknown): string {
  return `decoder error (a bug, please report): ${error instanceof Error ? error.message : String(error)}`;
}
