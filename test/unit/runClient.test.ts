// RunClient against scripted in-memory channels: the message logic (dedupe, hello, requests, reconnect) in isolation.
// The same client against the real `archloop attach` over real SSH is in test/integration/runSession.test.ts.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { Event } from '../../src/protocol';
import { RequestError, RunClient } from '../../src/session/runClient';
import type { Channel, ExitStatus } from '../../src/transport/types';

/** A channel whose remote side is driven by the test: it writes server lines and reads client lines. */
class ScriptedChannel implements Channel {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly exit: Promise<ExitStatus>;
  readonly received: unknown[] = [];
  private resolveExit!: (status: ExitStatus) => void;

  constructor(readonly since: number) {
    this.exit = new Promise((resolve) => (this.resolveExit = resolve));
    let buffered = '';
    this.stdin.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        this.received.push(JSON.parse(buffered.slice(0, newline)));
        buffered = buffered.slice(newline + 1);
      }
    });
  }

  send(...messages: unknown[]): void {
    this.stdout.write(messages.map((m) => `${JSON.stringify(m)}\n`).join(''));
  }

  sendRaw(text: string): void {
    this.stdout.write(text);
  }

  die(code = 1): void {
    this.stdout.end();
    this.stderr.end();
    this.resolveExit({ code, signal: null });
  }

  kill(): void {
    this.die(137);
  }
}

const hello = (protocol = 1) => ({ type: 'hello', protocol, role: 'server', software: 'archloop test', run: 'r1' });
const cycleStarted = (seq: number, cycle = seq) => ({ type: 'event', seq, run: 'r1', ts: 1_700_000_000_000 + seq, kind: 'cycle.started', data: { cycle, candidates: 4, adapter: null } });

function harness() {
  const channels: ScriptedChannel[] = [];
  const waiters: ((c: ScriptedChannel) => void)[] = [];
  const client = new RunClient({
    open: async (since) => {
      const channel = new ScriptedChannel(since);
      channels.push(channel);
      waiters.shift()?.(channel);
      return channel;
    },
    backoffMs: { first: 5, max: 20 },
    helloTimeoutMs: 2_000,
    requestTimeoutMs: 500,
  });
  const nextChannel = () => new Promise<ScriptedChannel>((resolve) => waiters.push(resolve));
  const events: Event[] = [];
  client.onEvent((e) => events.push(e));
  return { client, channels, nextChannel, events };
}

async function until(predicate: () => boolean, what: string, ms = 2_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('events that arrive in the same chunk as the hello are delivered, in order', async () => {
  const { client, nextChannel, events } = harness();
  const channelPromise = nextChannel();
  const connected = client.connect();
  const channel = await channelPromise;
  channel.send(hello(), cycleStarted(1), cycleStarted(2));
  await connected;
  await until(() => events.length === 2, 'two events');
  assert.deepEqual(events.map((e) => e.seq), [1, 2]);
  assert.equal((channel.received[0] as { type: string }).type, 'hello');
  await client.close();
});

test('reconnect re-attaches after the last seq and replayed events are delivered once', async () => {
  const { client, channels, nextChannel, events } = harness();
  const first = nextChannel();
  const connected = client.connect();
  (await first).send(hello(), cycleStarted(1), cycleStarted(2), cycleStarted(3));
  await connected;
  await until(() => events.length === 3, 'three events');

  const second = nextChannel();
  channels[0]!.die();
  const channel2 = await second;
  assert.equal(channel2.since, 3, 're-attach asks for events after the last delivered seq');
  // A backend that replays a little too much must not cause duplicates.
  channel2.send(hello(), cycleStarted(2), cycleStarted(3), cycleStarted(4));
  await until(() => events.length === 4, 'four events');
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4]);
  assert.equal(client.lastSeq, 4);
  await client.close();
});

test('a protocol version mismatch fails the connect with both versions named', async () => {
  const { client, nextChannel } = harness();
  const channel = nextChannel();
  const connected = client.connect();
  (await channel).send(hello(7));
  await assert.rejects(connected, /backend speaks protocol 7, this extension speaks 1/);
  assert.equal(client.state, 'failed');
});

test('malformed lines are dropped and logged; the stream goes on', async () => {
  const warnings: string[] = [];
  const { nextChannel } = harness();
  const client = new RunClient({
    open: async (since) => {
      const c = new ScriptedChannel(since);
      queueMicrotask(() => {
        c.send(hello());
        c.sendRaw('{"type":"event","seq":1,"run":"r1"\n');
        c.sendRaw('not json at all\n');
        c.send({ type: 'event', seq: 1, run: 'r1', ts: 1, kind: 'no.such.kind', data: {} });
        c.sendRaw('{"type":"event","seq":1,"run":"r1","ts":1,"kind":"cycle.started","data":{"cycle":1,"candidates":1,"adapter":null,"__proto__":{"x":1}}}\n');
        c.send(cycleStarted(1));
      });
      return c;
    },
    log: { info: () => {}, warn: (m) => warnings.push(m), error: () => {} },
  });
  void nextChannel;
  const events: Event[] = [];
  client.onEvent((e) => events.push(e));
  await client.connect();
  await until(() => events.length === 1, 'the valid event');
  assert.equal(events[0]!.seq, 1);
  assert.equal(warnings.filter((w) => w.startsWith('dropped a line')).length, 4);
  await client.close();
});

test('requests get their response by id; errors carry the backend code; a drop rejects what is in flight', async () => {
  const { client, channels, nextChannel } = harness();
  const first = nextChannel();
  const connected = client.connect();
  (await first).send(hello());
  await connected;
  const channel = channels[0]!;

  const ok = client.request('run.status', {});
  await until(() => channel.received.length === 2, 'the request');
  const request = channel.received[1] as { id: number; method: string };
  assert.equal(request.method, 'run.status');
  channel.send({ type: 'response', id: request.id, ok: true, result: { state: 'running' } });
  assert.deepEqual(await ok, { state: 'running' });

  const refused = client.request('candidate.verdict', { candidate: 'c1-0001', verdict: 'accept' });
  await until(() => channel.received.length === 3, 'the second request');
  const id = (channel.received[2] as { id: number }).id;
  channel.send({ type: 'response', id, ok: false, error: { code: 'not_found', message: 'no candidate c1-0001' } });
  await assert.rejects(refused, (e: unknown) => e instanceof RequestError && e.code === 'not_found' && /no candidate c1-0001/.test(e.message));

  const inFlight = client.request('run.pause', {});
  const reconnect = nextChannel();
  channel.die();
  await assert.rejects(inFlight, (e: unknown) => e instanceof RequestError && e.code === 'disconnected');
  (await reconnect).send(hello());
  await until(() => client.state === 'connected', 'reconnected');
  await client.close();
  await assert.rejects(client.request('run.status', {}), (e: unknown) => e instanceof RequestError && e.code === 'closed');
});

test('a request without an answer times out', async () => {
  const { client, nextChannel } = harness();
  const first = nextChannel();
  const connected = client.connect();
  (await first).send(hello());
  await connected;
  await assert.rejects(client.request('run.status', {}, 50), (e: unknown) => e instanceof RequestError && e.code === 'timeout');
  await client.close();
});
