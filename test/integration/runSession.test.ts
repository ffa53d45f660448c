// The run client against the real backend: `archloop start` launches a real daemon running a small real loop, the
// client attaches through `archloop attach`, and the link is cut while the run goes on. Locally the attach process is
// killed; over SSH (a private sshd on loopback) the connection's sshd child is killed. Either way every event must
// arrive exactly once and in order, and the run must finish.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Event } from '../../src/protocol';
import { attachOpener, listRuns, startRun, type Backend } from '../../src/session/backendCommands';
import { RunClient } from '../../src/session/runClient';
import { reconnectingTransport } from '../../src/session/transportSource';
import { LocalTransport } from '../../src/transport/localTransport';
import { SshTransport } from '../../src/transport/sshTransport';
import type { Channel } from '../../src/transport/types';
import { PYTHON, prepareTinyRun } from '../helpers/backendRun';
import { clientHome, signalIfAlive, startSshd, type Sshd } from '../helpers/sshd';

const KILLS = 5;
const RUN_TIMEOUT_MS = 12 * 60_000;

interface Outcome {
  events: Event[];
  kills: number;
  states: string[];
}

/** Attaches to `runDir`, cuts the link with `cut` after every 3rd new event (5 times), and collects until run.finished. */
async function followWithCuts(backend: Backend, runDir: string, cut: (channel: Channel) => void): Promise<Outcome> {
  let channel: Channel | undefined;
  const open = attachOpener(backend, runDir);
  const client = new RunClient({
    open: async (since, signal) => (channel = await open(since, signal)),
    backoffMs: { first: 100, max: 1_000 },
    helloTimeoutMs: 60_000,
  });
  const events: Event[] = [];
  const states: string[] = [];
  let kills = 0;
  client.onState((state) => states.push(state));
  const finished = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`run did not finish in time; got ${events.length} events`)), RUN_TIMEOUT_MS);
    client.onEvent((event) => {
      events.push(event);
      if (event.kind === 'run.finished' || (event.kind === 'run.error' && event.data.fatal)) {
        clearTimeout(timer);
        resolve();
      } else if (kills < KILLS && events.length % 3 === 0 && channel) {
        kills += 1;
        cut(channel);
      }
    });
  });
  await client.connect();
  try {
    await finished;
  } finally {
    await client.close();
  }
  return { events, kills, states };
}

function assertExactlyOnceInOrder(outcome: Outcome, lastSeq: number): void {
  const seqs = outcome.events.map((e) => e.seq);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'seqs are 1..N with no gap and no repeat');
  assert.equal(seqs.length, lastSeq, 'the client saw every event the store holds');
  assert.equal(outcome.events.at(-1)?.kind, 'run.finished', `the run finished: ${JSON.stringify(outcome.events.at(-1))}`);
  assert.equal(outcome.kills, KILLS, 'the link was cut during the run as many times as planned');
  assert.ok(outcome.states.filter((s) => s === 'reconnecting').length >= KILLS, `reconnected after each cut: ${outcome.states.join(',')}`);
  const kinds = new Set(outcome.events.map((e) => e.kind));
  for (const kind of ['run.created', 'cycle.started', 'candidate.generated', 'candidate.validated', 'cycle.finished'] as const) {
    assert.ok(kinds.has(kind), `saw a ${kind} event`);
  }
}

describe('run session against the real backend', () => {
  let dir = '';
  let sshd: Sshd;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'archloop-session-'));
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two clients, one local and one over SSH, each cut 5 times mid-run, both get every event once and in order', { timeout: RUN_TIMEOUT_MS + 60_000 }, async () => {
    const { configToml } = prepareTinyRun(dir, { cycles: 2, candidates: 3 });
    const runRoot = join(dir, 'runs');

    const local = reconnectingTransport(async () => new LocalTransport());
    const localBackend: Backend = { transport: (signal) => local.get(signal), python: PYTHON, runRoot };

    const home = clientHome(dir, sshd);
    let sshConnects = 0;
    const ssh = reconnectingTransport(async (signal) => {
      sshConnects += 1;
      return SshTransport.open('gpu', { homeDir: home, env: {}, connectTimeoutMs: 20_000, ...(signal ? { signal } : {}) });
    });
    const sshBackend: Backend = { transport: (signal) => ssh.get(signal), python: PYTHON, runRoot };

    // The run is started over SSH (as the extension does on a GPU host); both clients follow the same daemon.
    const started = await startRun(sshBackend, { configToml, runDir: join(runRoot, 'r1') });
    const [localOutcome, sshOutcome] = await Promise.all([
      followWithCuts(localBackend, started.runDir, (channel) => channel.kill('KILL')),
      followWithCuts(sshBackend, started.runDir, () => {
        for (const pid of sshd.connectionPids()) signalIfAlive(pid, 'SIGKILL');
      }),
    ]);

    const [summary] = await listRuns(localBackend);
    assert.ok(summary, 'archloop runs lists the run');
    assert.equal(summary.state, 'finished');
    assertExactlyOnceInOrder(localOutcome, summary.lastSeq);
    assertExactlyOnceInOrder(sshOutcome, summary.lastSeq);
    assert.deepEqual(sshOutcome.events, localOutcome.events, 'both clients saw the same events');
    assert.ok(sshConnects >= KILLS + 1, `a new SSH connection after each cut (${sshConnects} connects)`);
    await Promise.all([local.close(), ssh.close()]);
  });
});
