import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LineFramer, MessageDecoder, ServerMessage, type Decoded, type Frame, type RejectionReason } from '../../src/protocol';
import { fixtureLines } from './protocol-fixtures';

// Print the failing assertion itself in the report (node's runner does not show an error's cause).
fc.configureGlobal({ includeErrorInReport: true });

const REASONS: RejectionReason[] = [
  'line_too_long', 'invalid_utf8', 'invalid_json', 'not_an_object', 'forbidden_key',
  'unknown_type', 'unknown_kind', 'unknown_method', 'invalid_message', 'internal',
];
const SERVER_LINES = fixtureLines('server.jsonl');
const SERVER_MESSAGES = SERVER_LINES.map((line) => JSON.parse(line) as unknown);

/** A preview comes from at most 120 bytes; each byte gives at most one character (invalid ones become U+FFFD). */
function fromAtMost120Bytes(preview: string): boolean {
  return [...preview].length <= 120;
}

/** Cuts `bytes` at the given fractions (any positions, so also inside multi-byte characters). */
function cut(bytes: Buffer, fractions: number[]): Buffer[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  return chunks;
}

function decodeAll<T>(decoder: MessageDecoder<never> | MessageDecoder<typeof ServerMessage>, chunks: Buffer[]): Decoded<T>[] {
  const out: Decoded<T>[] = [];
  for (const chunk of chunks) out.push(...(decoder.push(chunk) as Decoded<T>[]));
  out.push(...(decoder.end() as Decoded<T>[]));
  return out;
}

const fractions = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 });
/** Text with astral characters, accents and CJK, so cuts land inside 2-, 3- and 4-byte UTF-8 sequences. */
const unicodeText = fc.string({ unit: fc.constantFrom('a', ' ', 'é', 'ü', '精', '度', '—', '🚀', '𝛼', '\n', '"', '\\'), maxLength: 60 });

test('golden messages decode identically under any chunking, including cuts inside multi-byte characters', () => {
  fc.assert(
    fc.property(fc.shuffledSubarray(SERVER_MESSAGES, { minLength: 1 }), fractions, (messages, cuts) => {
      const bytes = Buffer.from(messages.map((m) => `${JSON.stringify(m)}\n`).join(''), 'utf8');
      const results = decodeAll(new MessageDecoder(ServerMessage), cut(bytes, cuts));
      assert.deepEqual(results.map((r) => (r.ok ? r.message : r.rejection)), messages);
    }),
    { numRuns: 150 },
  );
});

test('arbitrary Unicode text in a message round-trips through arbitrary chunking', () => {
  fc.assert(
    fc.property(fc.array(unicodeText, { minLength: 1, maxLength: 8 }), fractions, (texts, cuts) => {
      const messages = texts.map((message, i) => ({ type: 'log' as const, level: 'info' as const, message, ts: i }));
      const bytes = Buffer.from(messages.map((m) => `${JSON.stringify(m)}\n`).join(''), 'utf8');
      const results = decodeAll(new MessageDecoder(ServerMessage), cut(bytes, cuts));
      assert.deepEqual(results.map((r) => (r.ok ? r.message : r.rejection)), messages);
    }),
    { numRuns: 200 },
  );
});

test('an over-long line is rejected once, never buffered past the cap, and decoding resumes after its newline', () => {
  const cap = 256;
  const valid = '{"type":"log","level":"warn","message":"after","ts":2}';
  const item = fc.oneof(
    fc.constant({ line: valid, tooLong: false }),
    fc.integer({ min: cap + 1, max: 4 * cap }).map((n) => ({ line: `{"type":"log","message":"${'x'.repeat(n)}"}`, tooLong: true })),
    fc.uint8Array({ minLength: cap + 1, maxLength: 3 * cap }).map((raw) => ({
      line: Buffer.from(raw.map((b) => (b === 10 ? 32 : b))).toString('latin1'),
      tooLong: true,
    })),
  );
  fc.assert(
    fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), fractions, (items, cuts) => {
      const bytes = Buffer.concat(items.map((it) => Buffer.from(`${it.line}\n`, 'latin1')));
      const framer = new LineFramer(cap);
      const frames: Frame[] = [];
      for (const chunk of cut(bytes, cuts)) {
        framer.push(chunk, frames);
        // The framer's own buffer: an over-long line must never be held in memory beyond the cap.
        assert.ok((framer as unknown as { pendingBytes: number }).pendingBytes <= cap);
      }
      framer.end(frames);
      assert.equal(frames.length, items.length);
      frames.forEach((frame, i) => {
        if (items[i]?.tooLong) {
          assert.equal('reason' in frame && frame.reason, 'line_too_long');
          assert.ok('preview' in frame && fromAtMost120Bytes(frame.preview));
        } else {
          assert.equal('bytes' in frame && frame.bytes.toString(), valid);
        }
        assert.equal(frame.lineNumber, i + 1);
      });
    }),
    { numRuns: 150 },
  );
});

test('garbage bytes never throw; every line is a message or a classified rejection, and the stream goes on', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fractions, (garbage, cuts) => {
      const after = '{"type":"log","level":"info","message":"still here","ts":7}';
      const bytes = Buffer.concat([Buffer.from(garbage), Buffer.from(`\n${after}\n`)]);
      const results = decodeAll(new MessageDecoder(ServerMessage, { maxLineBytes: 300 }), cut(bytes, cuts));
      for (const result of results) {
        if (!result.ok) {
          assert.ok(REASONS.includes(result.rejection.reason));
          assert.notEqual(result.rejection.reason, 'internal');
          assert.ok(result.rejection.detail.length > 0);
          assert.ok(fromAtMost120Bytes(result.rejection.preview));
        }
      }
      const last = results.at(-1);
      assert.ok(last?.ok);
      assert.deepEqual(last.message, JSON.parse(after));
    }),
    { numRuns: 150 },
  );
});

test('a wrong-typed field in any golden message is rejected as invalid_message naming the field', () => {
  // Values that no field of the schema accepts in place of a different JSON type.
  const wrongFor = (value: unknown): unknown[] =>
    typeof value === 'string' ? [12345, true, {}] : typeof value === 'number' ? ['7', [], true] : typeof value === 'boolean' ? ['yes', 1] : [];
  const cases: Array<{ message: Record<string, unknown>; path: string[]; wrong: unknown }> = [];
  for (const message of SERVER_MESSAGES as Record<string, unknown>[]) {
    const walk = (node: Record<string, unknown>, path: string[]) => {
      for (const [key, value] of Object.entries(node)) {
        if (['type', 'kind', 'ok', 'result', 'config'].includes(key) || path[0] === 'result' || path.includes('config')) continue;
        // A request id may be a number or a string, so neither is a wrong type there.
        for (const wrong of wrongFor(value).filter((w) => key !== 'id' || (typeof w !== 'string' && typeof w !== 'number'))) cases.push({ message, path: [...path, key], wrong });
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) walk(value as Record<string, unknown>, [...path, key]);
      }
    };
    walk(message, []);
  }
  fc.assert(
    fc.property(fc.constantFrom(...cases), ({ message, path, wrong }) => {
      const copy = structuredClone(message);
      let node: Record<string, unknown> = copy;
      for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
      node[path.at(-1) as string] = wrong;
      const [result] = decodeAll(new MessageDecoder(ServerMessage), [Buffer.from(`${JSON.stringify(copy)}\n`)]);
      assert.ok(result && !result.ok, `accepted ${path.join('.')} = ${JSON.stringify(wrong)}`);
      assert.equal(result.rejection.reason, 'invalid_message');
      assert.ok(result.rejection.detail.includes(path.join('.')), result.rejection.detail);
    }),
    { numRuns: 150 },
  );
});

test('unknown type, event kind and method strings are rejected with their own reasons', () => {
  const name = fc.string({ minLength: 1, maxLength: 20 });
  fc.assert(
    fc.property(name, name, (type, kind) => {
      fc.pre(!['hello', 'event', 'stream', 'response', 'log'].includes(type));
      const decoder = new MessageDecoder(ServerMessage);
      const event = SERVER_MESSAGES[1] as Record<string, unknown>;
      fc.pre(!SERVER_MESSAGES.some((m) => (m as { kind?: string }).kind === kind));
      const results = decodeAll(decoder, [Buffer.from(`${JSON.stringify({ type })}\n${JSON.stringify({ ...event, kind })}\n`)]);
      assert.deepEqual(results.map((r) => !r.ok && r.rejection.reason), ['unknown_type', 'unknown_kind']);
    }),
    { numRuns: 100 },
  );
});

test('__proto__, constructor and prototype keys at any depth are rejected, even when spelled with JSON escapes', () => {
  const forbidden = fc.constantFrom('__proto__', 'constructor', 'prototype');
  fc.assert(
    fc.property(fc.constantFrom(...SERVER_MESSAGES), forbidden, fc.nat(), fc.boolean(), (message, key, depthSeed, escaped) => {
      const copy = structuredClone(message) as Record<string, unknown>;
      // Pick an object inside the message (the top level or a nested one) to receive the key.
      const objects: Record<string, unknown>[] = [];
      const collect = (node: unknown) => {
        if (node !== null && typeof node === 'object') {
          if (!Array.isArray(node)) objects.push(node as Record<string, unknown>);
          Object.values(node).forEach(collect);
        }
      };
      collect(copy);
      const target = objects[depthSeed % objects.length] as Record<string, unknown>;
      target['FORBIDDEN_SLOT'] = { polluted: true };
      const spelled = escaped ? `\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${key.slice(1)}` : key;
      const line = JSON.stringify(copy).replace('"FORBIDDEN_SLOT"', `"${spelled}"`);
      const [result] = decodeAll(new MessageDecoder(ServerMessage), [Buffer.from(`${line}\n`)]);
      assert.ok(result && !result.ok);
      assert.equal(result.rejection.reason, 'forbidden_key');
      assert.ok(result.rejection.detail.endsWith(key), result.rejection.detail);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    }),
    { numRuns: 200 },
  );
});

test('values that merely contain the forbidden words are accepted', () => {
  const line = JSON.stringify({ type: 'log', level: 'info', message: 'self.constructor.prototype.__proto__ is fine in a string', ts: 1 });
  const [result] = decodeAll(new MessageDecoder(ServerMessage), [Buffer.from(`${line}\n`)]);
  assert.ok(result?.ok);
});

test('blank lines and CRLF endings are tolerated; a final line without newline is decoded at end()', () => {
  const log = '{"type":"log","level":"info","message":"m","ts":1}';
  const decoder = new MessageDecoder(ServerMessage);
  const first = decoder.push(`\n  \r\n${log}\r\n${log}`);
  assert.equal(first.length, 1);
  assert.ok(first[0]?.ok);
  assert.equal(first[0].lineNumber, 3);
  const last = decoder.end();
  assert.equal(last.length, 1);
  assert.ok(last[0]?.ok);
});

test('a truncated last line is an invalid_json rejection at end(), not a crash', () => {
  const decoder = new MessageDecoder(ServerMessage);
  assert.deepEqual(decoder.push(Buffer.from('{"type":"log","lev')), []);
  const [result] = decoder.end();
  assert.ok(result && !result.ok);
  assert.equal(result.rejection.reason, 'invalid_json');
  assert.equal(result.rejection.preview, '{"type":"log","lev');
});

test('a rejected response keeps its request id so the caller can fail that request', () => {
  const [result] = new MessageDecoder(ServerMessage).push('{"type":"response","id":"verdict-9","ok":true}\n');
  assert.ok(result && !result.ok);
  assert.equal(result.rejection.requestId, 'verdict-9');
});

test('a line exactly at the cap is accepted and one byte more is rejected', () => {
  const log = '{"type":"log","level":"info","message":"m","ts":1}';
  const atCap = new MessageDecoder(ServerMessage, { maxLineBytes: Buffer.byteLength(log) }).push(`${log}\n`);
  assert.ok(atCap[0]?.ok);
  const over = new MessageDecoder(ServerMessage, { maxLineBytes: Buffer.byteLength(log) - 1 }).push(`${log}\n`);
  assert.equal(over[0] && !over[0].ok && over[0].rejection.reason, 'line_too_long');
});

test('the decoder accepts exactly what the zod union accepts, with the same output (dispatch is only a shortcut)', () => {
  const tag = fc.constantFrom('hello', 'event', 'stream', 'response', 'log', 'request', 'run.created', 'candidate.generated', true, false, 1, null);
  fc.assert(
    fc.property(fc.constantFrom(...SERVER_MESSAGES), fc.constantFrom('type', 'kind', 'ok', 'seq', 'data', 'id', 'delta'), fc.oneof(tag, fc.jsonValue({ maxDepth: 2 })), (message, field, replacement) => {
      const mutated = { ...(message as Record<string, unknown>), [field]: replacement };
      const line = JSON.stringify(mutated);
      fc.pre(!/"(__proto__|constructor|prototype)":/.test(line)); // those the decoder rejects on purpose
      const viaUnion = ServerMessage.safeParse(JSON.parse(line));
      const [viaDecoder] = new MessageDecoder(ServerMessage).push(`${line}\n`);
      assert.equal(viaDecoder?.ok, viaUnion.success, line);
      if (viaDecoder?.ok && viaUnion.success) assert.deepEqual(viaDecoder.message, viaUnion.data);
    }),
    { numRuns: 150 },
  );
});
