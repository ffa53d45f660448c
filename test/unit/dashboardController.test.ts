import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostMessage } from '../../src/protocol/dashboard';
import type { Event, Stream } from '../../src/protocol/messages';
import { DashboardController, type DashboardActions, type DashboardListener, type DashboardSource } from '../../src/ui/dashboardController';
import { contentSecurityPolicy, dashboardHtml, makeNonce } from '../../src/ui/dashboardHtml';
import { makeFixture } from '../webview/fixture';

const fixture = makeFixture({ cycles: 2, candidates: 20, seed: 2 });
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class FakeSource implements DashboardSource {
  listener: DashboardListener | null = null;
  streams?: () => readonly Stream[];
  subscriptions = 0;
  constructor(public events: Event[], private readonly delay: Promise<void> = Promise.resolve()) {}
  async snapshot(): Promise<readonly Event[]> {
    await this.delay;
    return this.events;
  }
  subscribe(listener: DashboardListener): () => void {
    this.subscriptions++;
    this.listener = listener;
    return () => {
      this.listener = null;
    };
  }
}

function recordingActions(fail = false): DashboardActions & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  const act = (name: string) => async (...args: unknown[]): Promise<void> => {
    calls.push([name, ...args]);
    if (fail) throw new Error(`${name} refused: run is stopped`);
  };
  return { calls, open: act('open'), diff: act('diff'), verdict: act('verdict'), annotate: act('annotate') };
}

function harness(source: DashboardSource, actions = recordingActions()) {
  const sent: HostMessage[] = [];
  const warnings: string[] = [];
  const controller = new DashboardController((m) => sent.push(m), source, actions, { warn: (m) => warnings.push(m) });
  return { controller, sent, warnings, actions };
}

test('ready is answered with a snapshot without source code, then new events follow in one batch', async () => {
  const source = new FakeSource(fixture.events.slice(0, 30));
  const { controller, sent } = harness(source);
  await controller.receive({ type: 'ready' });
  assert.equal(sent.length, 1);
  const snapshot = sent[0];
  assert.ok(snapshot?.type === 'snapshot');
  assert.equal(snapshot.state.lastSeq, fixture.events[29]?.seq);
  assert.ok(snapshot.state.candidates.length > 0);
  assert.ok(!JSON.stringify(snapshot).includes('class Net'));
  source.listener?.onEvents(fixture.events.slice(30, 33));
  source.listener?.onEvents(fixture.events.slice(33, 35));
  await flush();
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1]?.type === 'events' && sent[1].events.map((e) => e.seq), fixture.events.slice(30, 35).map((e) => e.seq));
});

test('events that arrive while the snapshot is read are held and sent after it, not lost', async () => {
  let release: () => void = () => undefined;
  const source = new FakeSource(fixture.events.slice(0, 10), new Promise<void>((resolve) => (release = resolve)));
  const { controller, sent } = harness(source);
  const ready = controller.receive({ type: 'ready' });
  await flush();
  source.listener?.onEvents(fixture.events.slice(10, 12));
  source.listener?.onStream({ type: 'stream', run: 'r', cycle: 1, candidate: 'x', offset: 0, delta: 'abc', done: false });
  assert.equal(sent.length, 0);
  release();
  await ready;
  await flush();
  assert.deepEqual(sent.map((m) => m.type), ['snapshot', 'events']);
});

test('a dashboard opened mid-stream gets the code written so far right after the snapshot', async () => {
  const source = new FakeSource(fixture.events.slice(0, 10));
  const streaming: Stream[] = [
    { type: 'stream', run: 'r', cycle: 1, candidate: 'b1', offset: 0, delta: 'import torch\nclass Net', done: false },
    { type: 'stream', run: 'r', cycle: 1, candidate: 'b0', offset: 0, delta: 'import', done: false },
  ];
  source.streams = () => streaming;
  const { controller, sent } = harness(source);
  await controller.receive({ type: 'ready' });
  assert.deepEqual(sent.map((m) => m.type), ['snapshot', 'stream', 'stream']);
  assert.deepEqual(sent[1]?.type === 'stream' && [sent[1].stream.candidate, sent[1].stream.offset, sent[1].stream.tail], ['b1', 22, 'import torch\nclass Net']);
  // A source that fails to list its streams still gives the snapshot, and says why in the log.
  const failing = new FakeSource(fixture.events.slice(0, 10));
  failing.streams = () => {
    throw new Error('gone');
  };
  const other = harness(failing);
  await other.controller.receive({ type: 'ready' });
  assert.deepEqual(other.sent.map((m) => m.type), ['snapshot']);
  assert.match(other.warnings.join('\n'), /could not read the code being streamed: Error: gone/);
});

test('a second ready (webview reloaded) gets a fresh snapshot without subscribing twice', async () => {
  const source = new FakeSource(fixture.events);
  const { controller, sent } = harness(source);
  await controller.receive({ type: 'ready' });
  await controller.receive({ type: 'ready' });
  assert.equal(source.subscriptions, 1);
  assert.deepEqual(sent.map((m) => m.type), ['snapshot', 'snapshot']);
});

test('actions reach the interface with their arguments and are acknowledged', async () => {
  const { controller, sent, actions } = harness(new FakeSource([]));
  await controller.receive({ type: 'open', cycle: 1, candidate: 'c01-0001' });
  await controller.receive({ type: 'diff', cycle: 1, candidate: 'c01-0001', nearest: 'lemur/1.py' });
  await controller.receive({ type: 'verdict', cycle: 1, candidate: 'c01-0001', verdict: 'accept' });
  await controller.receive({ type: 'verdict', cycle: 1, candidate: 'c01-0001', verdict: null });
  await controller.receive({ type: 'annotate', cycle: 1, candidate: 'c01-0001', text: 'ok', tags: ['a'] });
  const ref = { type: 'verdict', cycle: 1, candidate: 'c01-0001' };
  assert.equal(actions.calls.length, 5);
  assert.deepEqual(actions.calls[0], ['open', { type: 'open', cycle: 1, candidate: 'c01-0001' }]);
  assert.deepEqual(actions.calls[1]?.[2], 'lemur/1.py');
  assert.deepEqual(actions.calls[2], ['verdict', { ...ref, verdict: 'accept' }, 'accept']);
  assert.deepEqual(actions.calls[3]?.[2], null);
  assert.deepEqual(actions.calls[4]?.slice(2), ['ok', ['a']]);
  assert.ok(sent.every((m) => m.type === 'actionResult' && m.ok));
});

test('a failing action is reported back with its message, never thrown', async () => {
  const { controller, sent } = harness(new FakeSource([]), recordingActions(true));
  await controller.receive({ type: 'verdict', cycle: 1, candidate: 'c01-0001', verdict: 'reject' });
  assert.deepEqual(sent, [{ type: 'actionResult', action: 'verdict', candidate: 'c01-0001', ok: false, message: 'verdict refused: run is stopped' }]);
});

test('invalid webview messages are logged with the reason and dropped', async () => {
  const { controller, sent, warnings, actions } = harness(new FakeSource([]));
  await controller.receive({ type: 'verdict', cycle: 1, candidate: '../../etc', verdict: 'accept' });
  await controller.receive({ type: 'nope' });
  await controller.receive(null);
  await controller.receive({ type: 'webviewError', message: 'render failed' });
  assert.equal(actions.calls.length, 0);
  assert.equal(sent.length, 0);
  assert.equal(warnings.length, 4);
  assert.match(warnings[0] ?? '', /candidate/);
  assert.match(warnings[3] ?? '', /render failed/);
});

test('a failing snapshot read sends an empty snapshot and logs, and dispose stops everything', async () => {
  const source = new FakeSource([]);
  source.snapshot = async () => {
    throw new Error('store locked');
  };
  const { controller, sent, warnings } = harness(source);
  await controller.receive({ type: 'ready' });
  assert.equal(sent.length, 1);
  assert.ok(sent[0]?.type === 'snapshot' && sent[0].state.lastSeq === 0 && sent[0].state.candidates.length === 0);
  assert.match(warnings[0] ?? '', /store locked/);
  const listener = source.listener;
  controller.dispose();
  assert.equal(source.listener, null);
  listener?.onEvents(fixture.events.slice(0, 2));
  listener?.onStream({ type: 'stream', run: 'r', cycle: 1, candidate: 'x', offset: 0, delta: 'a', done: false } satisfies Stream);
  await flush();
  assert.equal(sent.length, 1);
});

test('the page has the strict CSP, a nonce on every script, and no inline script or remote origin', () => {
  const nonce = makeNonce();
  assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
  assert.notEqual(nonce, makeNonce());
  const cspSource = 'https://file+.vscode-resource.vscode-cdn.net';
  const html = dashboardHtml({ cspSource, nonce, scriptUri: `${cspSource}/dist/webview/main.js`, styleUri: `${cspSource}/media/dashboard.css` });
  assert.equal(
    contentSecurityPolicy(cspSource, nonce),
    `default-src 'none'; img-src ${cspSource} data:; style-src ${cspSource} 'nonce-${nonce}'; font-src ${cspSource}; script-src 'nonce-${nonce}'`,
  );
  const scripts = [...html.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
  assert.equal(scripts.length, 1);
  for (const [, attrs, body] of scripts) {
    assert.ok(attrs?.includes(`nonce="${nonce}"`));
    assert.equal(body, '');
  }
  assert.ok(!/unsafe-(inline|eval)/.test(html));
  assert.ok(html.includes(`<meta property="csp-nonce" content="${nonce}">`));
  const hostile = dashboardHtml({ cspSource, nonce: 'n"><script>alert(1)</script>', scriptUri: 'x"><script>', styleUri: 'y' });
  assert.ok(!hostile.includes('"><script>'));
});

test('a code request is answered with the candidate, its raw reply and its neighbour; a failure says why', async () => {
  const actions = {
    ...recordingActions(),
    code: async (ref: { candidate: string }, nearest: string | null) => {
      if (ref.candidate === 'c1-0009') throw new Error('run r is not attached');
      return { code: 'x = 1\n', raw: '```python\nx = 1\n```', nearestCode: nearest ? 'x = 2\n' : null, message: null };
    },
  };
  const { controller, sent } = harness(new FakeSource([]), actions);
  await controller.receive({ type: 'code', cycle: 1, candidate: 'c1-0000', nearest: 'c0-0004' });
  await controller.receive({ type: 'code', cycle: 1, candidate: 'c1-0009', nearest: null });
  assert.deepEqual(sent, [
    { type: 'candidateCode', cycle: 1, candidate: 'c1-0000', nearest: 'c0-0004', code: 'x = 1\n', raw: '```python\nx = 1\n```', nearestCode: 'x = 2\n', message: null },
    { type: 'candidateCode', cycle: 1, candidate: 'c1-0009', nearest: null, code: null, raw: null, nearestCode: null, message: 'run r is not attached' },
  ]);
});
