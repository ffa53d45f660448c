// The layer graph's host side: which event feeds the panel, what the dashboard leaves out, and where a code line
// lands in a candidate tab whose header grows as the candidate moves on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toDashboardEvent } from '../../src/protocol/dashboard';
import { documentLine, formatParams, formatShape, layerGraphOf, LayerGraphShow } from '../../src/protocol/layerGraph';
import { ServerMessage, type Event, type LayerNode } from '../../src/protocol/messages';

const LAYERS: LayerNode[] = [
  { name: 'features.0', type: 'Conv2d', params: 456, shape: [1, 6, 32, 32], inputs: [], line: 15 },
  { name: 'features.1', type: 'ReLU', params: 0, shape: [1, 6, 32, 32], inputs: [0], line: 16 },
];

function validated(candidate: string, data: Record<string, unknown>): Event {
  return { type: 'event', seq: 5, run: 'r', ts: 1, kind: 'candidate.validated', data: { cycle: 2, candidate, outcome: 'ok', message: null, line: null, params: 456, ok: true, ...data } } as Event;
}

test('the validated event carries the layer graph on the wire, and the schema refuses a malformed one', () => {
  assert.ok(ServerMessage.safeParse(validated('c2-0001', { layers: LAYERS, layersTruncated: false })).success);
  assert.ok(ServerMessage.safeParse(validated('c2-0001', {})).success); // runs recorded before have none
  const bad = validated('c2-0001', { layers: [{ ...LAYERS[0], params: -1 }] });
  assert.equal(ServerMessage.safeParse(bad).success, false);
});

test('the panel takes the candidate\'s last validation, or says in words why there is no graph', () => {
  const events = [validated('c2-0000', { layers: [] }), validated('c2-0001', { layers: LAYERS, layersTruncated: true })];
  const shown = layerGraphOf(events, { candidate: 'c2-0001' });
  assert.deepEqual(shown, { type: 'layers.show', candidate: 'c2-0001', cycle: 2, layers: LAYERS, truncated: true });
  assert.ok(LayerGraphShow.safeParse(shown).success);
  assert.match(String(layerGraphOf(events, { candidate: 'c2-0009' })), /has not been validated yet/);
  assert.match(String(layerGraphOf([validated('c2-0002', { ok: false, outcome: 'shape_error' })], { candidate: 'c2-0002' })), /failed validation \(shape_error\)/);
  assert.match(String(layerGraphOf([validated('c2-0003', {})], { candidate: 'c2-0003' })), /did not record layer graphs/);
});

test('the dashboard gets the validated event without the graph', () => {
  const event = toDashboardEvent(validated('c2-0001', { layers: LAYERS, layersTruncated: false }));
  assert.ok(event.kind === 'candidate.validated');
  assert.equal('layers' in event.data, false);
  assert.equal(event.data.params, 456);
});

test('a code line lands below the tab\'s header, and formats are compact', () => {
  const code = 'import torch\n\nclass Net:\n    pass\n';
  assert.equal(documentLine(`# c2-0001 · cycle 2\n# verdict: none\n${code}`, code, 3), 4);
  assert.equal(documentLine(code, code, 1), 0);
  assert.equal(documentLine('# header only\n', undefined, 2), 1); // no code known: the line as given
  assert.equal(formatShape([1, 64, 8, 8]), '1×64×8×8');
  assert.equal(formatShape(null), '—');
  assert.deepEqual([0, 950, 2304, 48_120, 1_234_567].map(formatParams), ['0', '950', '2.3k', '48k', '1.2M']);
});
