// Runs side by side, end to end: two real demo runs with different seeds, one started on this machine and one over
// SSH (a private sshd on loopback, standing in for a second host), each attached as a RunSession the way the
// extension attaches them, compared through the RunComparison the dashboard reads. The runs are the real backend:
// the demo model writes the nets, the sandbox trains them on synthetic data, LoRA fine-tunes at the cycle's end.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Event } from '../../src/protocol/messages';
import { startRun, type Backend } from '../../src/session/backendCommands';
import { RunComparison } from '../../src/session/runComparison';
import { RunSession } from '../../src/session/runSession';
import { reconnectingTransport } from '../../src/session/transportSource';
import { LocalTransport } from '../../src/transport/localTransport';
import { SshTransport } from '../../src/transport/sshTransport';
import { PYTHON } from '../helpers/backendRun';
import { clientHome, startSshd, type Sshd } from '../helpers/sshd';

const RUN_TIMEOUT_MS = 15 * 60_000;

/** The demo preset cut to one cycle of two candidates (seconds, not minutes, on 2 cores). */
function demoConfig(seed: number): string {
  return [
    '[run]', `name = "demo seed ${seed}"`, 'cycles = 1', 'candidates_per_cycle = 2', `seed = ${seed}`,
    '[generation]', 'batch_size = 2', 'max_retries = 0',
    '[evaluation]', 'data = "synthetic"', 'synthetic_train = 256', 'synthetic_test = 128',
    '[sft]', 'max_steps = 2', '',
  ].join('\n');
}

/** Resolves with the session's events once its run has finished (or failed). */
function finished(session: RunSession): Promise<readonly Event[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${session.run} did not finish; ${session.eventLog().length} events`)), RUN_TIMEOUT_MS);
    const check = (event: Event): void => {
      if (event.kind === 'run.finished' || (event.kind === 'run.error' && event.data.fatal)) {
        clearTimeout(timer);
        resolve(session.eventLog());
      }
    };
    session.subscribe({ onEvent: check });
    for (const event of session.eventLog()) check(event);
  });
}

describe('two real runs on two hosts, compared', () => {
  let dir = '';
  let sshd: Sshd;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'archloop-compare-'));
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each run is one series of its own finished cycles, its seed and its end, updated as its cycles finish', { timeout: RUN_TIMEOUT_MS + 60_000 }, async () => {
    const local = reconnectingTransport(async () => new LocalTransport());
    const localBackend: Backend = { transport: (signal) => local.get(signal), python: PYTHON, runRoot: join(dir, 'runs-local') };
    const home = clientHome(dir, sshd);
    const ssh = reconnectingTransport(async (signal) => SshTransport.open('gpu', { homeDir: home, env: {}, connectTimeoutMs: 20_000, ...(signal ? { signal } : {}) }));
    const sshBackend: Backend = { transport: (signal) => ssh.get(signal), python: PYTHON, runRoot: join(dir, 'runs-gpu') };

    const log = { info: () => undefined, warn: () => undefined, error: (m: string) => assert.fail(m) };
    const sessions: RunSession[] = [];
    for (const [host, backend, seed] of [['local', localBackend, 0], ['gpu', sshBackend, 5]] as const) {
      const started = await startRun(backend, { preset: 'demo', configToml: demoConfig(seed), runDir: join(backend.runRoot, `seed-${seed}`) });
      const session = new RunSession({ host, run: `seed-${seed}`, runDir: started.runDir, backend, log, helloTimeoutMs: 60_000 });
      await session.connect();
      sessions.push(session);
    }
    const comparison = new RunComparison();
    const seen: string[] = [];
    comparison.onDidChange(() => seen.push(comparison.runs().map((run) => `${run.key}:${run.phase}:${run.cycles.length}`).join(' ')));
    comparison.set(sessions);

    const logs = await Promise.all(sessions.map(finished));
    const rows = comparison.runs();
    assert.deepEqual(rows.map((row) => [row.key, row.seed, row.phase, row.endedBy]), [
      ['local/seed-0', 0, 'finished', 'completed'],
      ['gpu/seed-5', 5, 'finished', 'completed'],
    ]);
    rows.forEach((row, i) => {
      const stats = logs[i]?.flatMap((event) => (event.kind === 'cycle.finished' ? [event.data.stats] : []));
      assert.deepEqual(row.cycles, stats, `${row.key}: the series is the run's own cycle.finished stats`);
      assert.equal(row.cycles.length, 1);
      assert.equal(row.cycles[0]?.generated, 2);
      assert.equal(row.name, `demo seed ${row.seed}`);
      // Real sandboxed training happened: every candidate that validated was evaluated (a number, not a stand-in).
      const evaluated = logs[i]?.filter((event) => event.kind === 'candidate.evaluated') ?? [];
      assert.equal(evaluated.length, row.cycles[0]?.trained, `${row.key}: trained count matches the evaluations`);
    });
    const accuracies = logs.flatMap((events) => events.flatMap((event) => (event.kind === 'candidate.evaluated' && event.data.accuracy !== null ? [event.data.accuracy] : [])));
    console.error(`compare: ${rows.map((row) => `${row.key} valid ${row.cycles[0]?.valid}/2 trained ${row.cycles[0]?.trained}`).join(', ')}; accuracies ${accuracies.join(', ')}`);
    assert.ok(accuracies.length >= 1, 'at least one of the four nets was trained in the sandbox and has an accuracy');
    assert.ok(seen.some((line) => line.includes('local/seed-0:finished:1')), `updates followed the runs: ${seen.join(' | ')}`);
    comparison.dispose();
    await Promise.all(sessions.map((session) => session.close()));
    await Promise.all([local.close(), ssh.close()]);
  });
});
