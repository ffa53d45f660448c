/**
 * Throughput of the wire decoder (framing + UTF-8 + JSON.parse + zod validation) against JSON.parse alone, on the
 * same lines in the same run. Run: npx tsx bench/protocol-codec.ts [--events N] [--rounds R] [--dump]
 * The mix is what an attach stream carries during a cycle: per candidate a start, a handful of token-stream deltas, the
 * generated code (a few KB), validation, novelty and evaluation events; a finetune.progress event every few candidates.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { MessageDecoder, ServerMessage } from '../src/protocol';

const CHUNK_BYTES = 64 * 1024; // what a pipe or an SSH channel typically hands over per 'data' event

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

/** The golden candidate.generated code (a realistic ~2.5 KB net), varied per candidate so no two lines are equal. */
function sampleCode(): string {
  const golden = readFileSync(join(__dirname, '..', 'test', 'fixtures', 'protocol', 'server.jsonl'), 'utf8')
    .split('\n')
    .map((line) => (line ? (JSON.parse(line) as { kind?: string; data?: { code?: string } }) : {}))
    .find((m) => m.kind === 'candidate.generated');
  if (!golden?.data?.code) throw new Error('server.jsonl has no candidate.generated fixture');
  return golden.data.code;
}

function buildLines(targetEvents: number): string[] {
  const code = sampleCode();
  const run = 'r-20261129-cifar';
  const lines: string[] = [];
  let seq = 0;
  const event = (kind: string, data: object) => {
    seq += 1;
    lines.push(JSON.stringify({ type: 'event', seq, run, ts: 1796546700000 + seq, kind, data }));
  };
  for (let i = 0; lines.length < targetEvents; i++) {
    const cycle = Math.floor(i / 150) + 1;
    const candidate = `c${cycle}-${String(i % 150).padStart(3, '0')}`;
    const ref = { cycle, candidate };
    const body = code.replace(/32/g, String(16 + (i % 48))).replace('3.0', (1 + (i % 7) / 2).toFixed(1));
    event('candidate.started', { ...ref, index: i % 150 });
    const step = Math.ceil(body.length / 3); // backends batch tokens: a few deltas per candidate
    for (let offset = 0; offset < body.length; offset += step) {
      lines.push(JSON.stringify({ type: 'stream', run, ...ref, offset, delta: body.slice(offset, offset + step), done: false }));
    }
    lines.push(JSON.stringify({ type: 'stream', run, ...ref, offset: body.length, delta: '', done: true }));
    event('candidate.generated', { ...ref, code: body, attempts: 1 + (i % 3), tokens: Math.round(body.length / 3.4), seconds: 18.5 + (i % 9) });
    const ok = i % 2 === 0;
    event('candidate.validated', { ...ref, ok, outcome: ok ? 'ok' : 'shape_error', message: ok ? null : 'mat1 and mat2 shapes cannot be multiplied (1x4096 and 1024x10)', line: ok ? null : 31, params: ok ? 95498 + i : null });
    if (!ok) continue;
    event('candidate.novelty', { ...ref, maxJaccard: (i % 100) / 100, nearest: 'lemur:img-classification_cifar-10_acc_ResNet/0412', novel: i % 5 !== 0, signature: 'a3f1c2e9d0b4a5f6e7d8c9b0a1f2e3d4' });
    event('candidate.evaluated', { ...ref, outcome: 'ok', accuracy: 30 + (i % 25), params: 95498 + i, trainSeconds: 96.3, evalSeconds: 4.1, peakMemoryMB: 1312.5, imagesPerSecond: 519.2, message: null });
    if (i % 4 === 0) event('finetune.progress', { cycle, step: i, total: 1061, loss: 0.8 - i / 1e5, etaSeconds: 1420 });
  }
  return lines.slice(0, targetEvents);
}

interface Path {
  name: string;
  /** Runs the path once over all lines; returns how many messages it produced (checked against the line count). */
  run: () => number;
  /** Best wall-clock seconds of a round. */
  best: number;
  /** Best CPU seconds (user + system) of a round: what the work costs, whatever else the machine is running. */
  bestCpu: number;
}

/**
 * Rounds alternate between the paths and each keeps its best time: on a shared machine the best round is the one least
 * disturbed by other processes, and alternating exposes both paths to the same conditions.
 */
function measure(paths: Path[], rounds: number, expected: number): void {
  for (let round = 0; round <= rounds; round++) {
    for (const path of paths) {
      const start = process.hrtime.bigint();
      const cpuStart = process.cpuUsage();
      const count = path.run();
      const cpu = process.cpuUsage(cpuStart);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (count !== expected) throw new Error(`${path.name}: expected ${expected} messages, got ${count}`);
      if (round > 0) {
        // round 0 warms the JIT up
        path.best = Math.min(path.best, seconds);
        path.bestCpu = Math.min(path.bestCpu, (cpu.user + cpu.system) / 1e6);
      }
    }
  }
}

function main(): void {
  const events = argument('--events', 30_000);
  const rounds = argument('--rounds', 9);
  const lines = buildLines(events);
  const bytes = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) chunks.push(bytes.subarray(offset, offset + CHUNK_BYTES));

  const paths: Path[] = [
    {
      name: 'JSON.parse alone (pre-split lines)',
      best: Infinity,
      bestCpu: Infinity,
      run: () => {
        let n = 0;
        for (const line of lines) if (JSON.parse(line) !== null) n++;
        return n;
      },
    },
    {
      name: 'MessageDecoder (64 KiB chunks, validated)',
      best: Infinity,
      bestCpu: Infinity,
      run: () => {
        const decoder = new MessageDecoder(ServerMessage);
        let n = 0;
        for (const chunk of chunks) for (const result of decoder.push(chunk)) if (result.ok) n++;
        for (const result of decoder.end()) if (result.ok) n++;
        return n;
      },
    },
  ];
  measure(paths, rounds, lines.length);

  const baseline = paths[0] ?? { best: 1, bestCpu: 1 };
  const megabytes = bytes.length / 1e6;
  const stream = lines.filter((l) => l.startsWith('{"type":"stream"')).length;
  console.log(`${lines.length} lines (${stream} stream, ${lines.length - stream} events), ${megabytes.toFixed(1)} MB, mean ${(bytes.length / lines.length).toFixed(0)} B/line; best of ${rounds}, Node ${process.version}, one thread`);
  const rate = (seconds: number) => Math.round(lines.length / seconds).toLocaleString('en-US');
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  console.log('| path | messages/s (wall) | MB/s (wall) | messages/s (CPU time) | cost vs JSON.parse (wall / CPU) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const path of paths) {
    const ratio = `${(path.best / baseline.best).toFixed(2)}x / ${(path.bestCpu / baseline.bestCpu).toFixed(2)}x`;
    console.log(`| ${path.name} | ${rate(path.best)} | ${(megabytes / path.best).toFixed(0)} | ${rate(path.bestCpu)} | ${ratio} |`);
  }
}

// --dump prints the generated lines instead (to profile the decoder on the same mix elsewhere).
if (process.argv.includes('--dump')) process.stdout.write(`${buildLines(argument('--events', 30_000)).join('\n')}\n`);
else main();
