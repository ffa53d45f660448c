// Events from the daemon to the extension over a real loopback SSH connection (and locally), through the real
// `archloop attach` and RunClient: throughput and commit-to-receipt latency (p50/p95), with a synthetic event load
// (bench/session_load.py). Baseline in the same run: the same number of JSON lines printed by a Python one-liner over
// the same SSH connection, i.e. the raw channel with no store, no validation and no client.
// Run: npx tsx bench/session-throughput.ts [count=20000]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { attachOpener, type Backend } from '../src/session/backendCommands';
import { RunClient } from '../src/session/runClient';
import { LocalTransport } from '../src/transport/localTransport';
import { SshTransport } from '../src/transport/sshTransport';
import type { Transport } from '../src/transport/types';
import { makeKey, startSshd } from '../test/helpers/sshd';

const PYTHON = resolve('remote-python/.venv/bin/python');
const COUNT = Number(process.argv[2] ?? 20_000);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measureClient(label: string, transport: Transport, dir: string, rate: number) {
  const runDir = join(dir, `run-${label}-${rate}`);
  const load = spawn(PYTHON, [resolve('bench/session_load.py'), runDir, String(COUNT), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok) => load.stdout.once('data', () => ok())); // "ready": the store holds the run (and, at rate 0, every event)
  const backend: Backend = { transport: async () => transport, python: PYTHON, runRoot: dir };
  const client = new RunClient({ open: attachOpener(backend, runDir) });
  const latencies: number[] = [];
  let first = 0;
  let last = 0;
  const done = new Promise<void>((ok) => {
    client.onEvent((event) => {
      const now = Date.now();
      if (event.kind === 'finetune.progress') {
        if (!first) first = performance.now();
        last = performance.now();
        latencies.push(now - event.ts);
      }
      if (event.kind === 'run.finished') ok();
    });
  });
  await client.connect();
  await done;
  await client.close();
  load.kill();
  latencies.sort((a, b) => a - b);
  return { eventsPerS: (latencies.length - 1) / ((last - first) / 1000), p50: percentile(latencies, 50), p95: percentile(latencies, 95), n: latencies.length };
}

async function rawLines(transport: Transport): Promise<number> {
  const line = JSON.stringify({ type: 'event', seq: 1, run: 'r', ts: 1, kind: 'finetune.progress', data: { cycle: 1, step: 1, total: 1, loss: 0.5, etaSeconds: 1 } });
  // Timed from the first line to the last, so the interpreter's start-up is not counted.
  let first = 0;
  let last = 0;
  let lines = 0;
  await transport.run([PYTHON, '-c', `import sys\nline = sys.argv[1] + "\\n"\nsys.stdout.write(line * ${COUNT})`, line], {
    maxOutputBytes: 1024,
    onStdoutLine: () => {
      last = performance.now();
      if (!first) first = last;
      lines += 1;
    },
  });
  if (lines !== COUNT) throw new Error(`baseline got ${lines} of ${COUNT} lines`);
  return (COUNT - 1) / ((last - first) / 1000);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'archloop-bench-session-'));
  const sshd = await startSshd();
  try {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    const key = makeKey(home, 'id');
    sshd.authorize(key.publicLine);
    writeFileSync(join(home, '.ssh', 'known_hosts'), `${sshd.knownHostsLine()}\n`);
    writeFileSync(join(home, '.ssh', 'config'), ['Host bench', '  HostName 127.0.0.1', `  Port ${sshd.port}`, `  User ${sshd.user}`, `  IdentityFile ${key.privatePath}`, ''].join('\n'));
    const ssh = await SshTransport.open('bench', { homeDir: home, env: {} });
    const local = new LocalTransport();

    const rows: string[][] = [];
    const baseline = await rawLines(ssh);
    for (const [label, transport] of [['ssh', ssh], ['local', local]] as const) {
      const flood = await measureClient(label, transport, dir, 0);
      const paced = await measureClient(label, transport, dir, 1000);
      rows.push([label, 'replay', flood.eventsPerS.toFixed(0), '', '', (flood.eventsPerS / baseline).toFixed(2)]);
      rows.push([label, 'live 1000/s', paced.eventsPerS.toFixed(0), paced.p50.toFixed(1), paced.p95.toFixed(1), '']);
    }
    console.log(`\n${COUNT} finetune.progress events, each its own SQLite commit. replay: all committed, then attach --since 0;`);
    console.log(`live: committed at 1000/s while attached (latency = receipt - commit time). Baseline: the same JSON lines`);
    console.log(`printed over the same SSH connection with no store, validation or client: ${baseline.toFixed(0)} lines/s\n`);
    console.log(['path', 'load', 'events/s', 'p50 ms', 'p95 ms', 'ratio to raw SSH lines'].map((c) => c.padEnd(12)).join(' '));
    for (const row of rows) console.log(row.map((c) => c.padEnd(12)).join(' '));
    await ssh.close();
    await local.close();
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
