import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientMessage, Event, MessageDecoder, Request, ServerMessage, decodeLine, encodeMessage } from '../../src/protocol';
import { fixtureLines, invalidFixtureBytes, invalidFixtures } from './protocol-fixtures';

test('every golden server line decodes, equals its JSON, and survives encode -> decode unchanged', () => {
  for (const line of fixtureLines('server.jsonl')) {
    const decoded = decodeLine(line, ServerMessage);
    assert.ok(decoded?.ok, `rejected: ${line.slice(0, 80)} ${JSON.stringify(decoded)}`);
    assert.deepEqual(decoded.message, JSON.parse(line));
    const again = decodeLine(encodeMessage(decoded.message).trimEnd(), ServerMessage);
    assert.ok(again?.ok);
    assert.deepEqual(again.message, decoded.message);
  }
});

test('every golden client line decodes, equals its JSON, and survives encode -> decode unchanged', () => {
  for (const line of fixtureLines('client.jsonl')) {
    const decoded = decodeLine(line, ClientMessage);
    assert.ok(decoded?.ok, `rejected: ${line} ${JSON.stringify(decoded)}`);
    assert.deepEqual(decoded.message, JSON.parse(line));
    // Byte for byte: the Python suite checks that its encoder writes these very lines too.
    assert.equal(encodeMessage(decoded.message), `${line}\n`);
  }
});

test('the golden files cover every event kind, every request method and every message type', () => {
  const server = fixtureLines('server.jsonl').map((line) => JSON.parse(line) as { type: string; kind?: string });
  const client = fixtureLines('client.jsonl').map((line) => JSON.parse(line) as { type: string; method?: string });
  const kinds = new Set(server.filter((m) => m.type === 'event').map((m) => m.kind));
  assert.deepEqual([...kinds].sort(), Event.options.map((o) => o.shape.kind.value).sort());
  const methods = new Set(client.filter((m) => m.type === 'request').map((m) => m.method));
  assert.deepEqual([...methods].sort(), Request.options.map((o) => o.shape.method.value).sort());
  assert.deepEqual([...new Set(server.map((m) => m.type))].sort(), ['event', 'hello', 'log', 'response', 'stream']);
  assert.deepEqual([...new Set(client.map((m) => m.type))].sort(), ['hello', 'request']);
});

test('each golden invalid line is rejected with its expected reason, and the next valid line still decodes', () => {
  // Short enough to pass the small cap of the over-long-line fixture.
  const validServer = '{"type":"log","level":"info","message":"m","ts":1}\n';
  const validClient = '{"type":"request","id":1,"method":"run.stop","params":{}}\n';
  for (const fixture of invalidFixtures()) {
    const schema = fixture.direction === 'server' ? ServerMessage : ClientMessage;
    const decoder = new MessageDecoder(schema, fixture.maxLineBytes === undefined ? {} : { maxLineBytes: fixture.maxLineBytes });
    const results = [
      ...decoder.push(Buffer.concat([invalidFixtureBytes(fixture), Buffer.from(`\n${fixture.direction === 'server' ? validServer : validClient}`)])),
      ...decoder.end(),
    ];
    assert.equal(results.length, 2, `${fixture.name}: ${JSON.stringify(results)}`);
    const [bad, good] = results;
    assert.ok(bad && !bad.ok, `${fixture.name} was accepted`);
    assert.equal(bad.rejection.reason, fixture.reason, `${fixture.name}: ${bad.rejection.detail}`);
    assert.ok(bad.rejection.detail.length > 0);
    assert.ok([...bad.rejection.preview].length <= 120);
    assert.equal(bad.rejection.lineNumber, 1);
    assert.ok(good?.ok, `${fixture.name}: the stream did not go on`);
  }
});
