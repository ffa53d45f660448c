/**
 * Deterministic fixture runs for the dashboard tests and benchmark: wire events of a loop run with realistic shapes
 * (valid rates, accuracies, Jaccard spread, failures by class, verdicts, annotations, fine-tune loss), and the
 * per-cycle statistics computed from those candidates the way the backend does (Wilson intervals in percent).
 * A stand-in for a real run, which needs CIFAR-10 and a GPU that this machine does not have.
 */
import type { CycleStats, Event, Outcome } from '../../src/protocol/messages';
import { toDashboardEvent, type DashboardSnapshot } from '../../src/protocol/dashboard';
import { fromEvents, toSnapshot } from '../../src/protocol/dashboardState';

export interface FixtureOptions {
  readonly cycles: number;
  /** Total candidates over all cycles, spread evenly. */
  readonly candidates: number;
  readonly seed?: number;
  /** Put hostile strings (markup, scripts, long unicode) into annotations, messages and neighbour names. */
  readonly hostile?: boolean;
  readonly noveltyThreshold?: number;
  readonly finetuneSteps?: number;
}

export const HOSTILE_STRINGS = [
  '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">',
  '<script>window.__pwned=(window.__pwned||0)+1</script>',
  '"><svg onload="window.__pwned=1"></svg>',
  'Ω≈ç√∫˜µ≤≥÷ 🧪🔥 ' + 'ẞ'.repeat(300) + ' \u202Eevil\u202C right-to-left',
] as const;

export const RUN_ID = 'fixture-run';

/** mulberry32: tiny, seedable, good enough for fixture shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wilson score interval in percent (same formula as remote-python/archloop/run/selection.py). */
export function wilsonPercent(successes: number, total: number, z = 1.959963984540054): [number, number] {
  if (total === 0) return [0, 0];
  const p = successes / total;
  const denominator = 1 + (z * z) / total;
  const centre = (p + (z * z) / (2 * total)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / total + (z * z) / (4 * total * total))) / denominator;
  return [Math.max(0, centre - half) * 100, Math.min(1, centre + half) * 100];
}

const FAILURES: readonly Outcome[] = ['syntax_error', 'contract_error', 'shape_error', 'runtime_error', 'import_error'];
const EVAL_FAILURES: readonly Outcome[] = ['timeout', 'out_of_memory', 'nan_loss', 'crashed'];

export interface Fixture {
  readonly events: Event[];
  readonly stats: CycleStats[];
  readonly candidateCount: number;
}

export function makeFixture(options: FixtureOptions): Fixture {
  const random = prng(options.seed ?? 7);
  const events: Event[] = [];
  const stats: CycleStats[] = [];
  let seq = 0;
  let ts = 1_780_000_000_000;
  const push = <K extends Event['kind']>(kind: K, data: Extract<Event, { kind: K }>['data']): void => {
    ts += 1000;
    events.push({ type: 'event', seq: ++seq, run: RUN_ID, ts, kind, data } as Event);
  };
  const hostile = (i: number): string => HOSTILE_STRINGS[i % HOSTILE_STRINGS.length] as string;
  const threshold = options.noveltyThreshold ?? 0.85;
  const perCycle = Math.ceil(options.candidates / options.cycles);

  push('run.created', {
    name: options.hostile ? `fixture ${hostile(0)}` : 'fixture run',
    preset: 'paper',
    model: 'deepseek-ai/deepseek-coder-7b-instruct-v1.5',
    cycles: options.cycles,
    candidatesPerCycle: perCycle,
    protocol: 'paper',
    executor: 'local',
    config: { novelty: { threshold } },
  });

  let made = 0;
  let totalTrainPrompts = 1697;
  for (let cycle = 1; cycle <= options.cycles; cycle++) {
    const count = Math.min(perCycle, options.candidates - made);
    if (count <= 0) break;
    push('cycle.started', { cycle, candidates: count, adapter: cycle === 1 ? null : `adapter-c${cycle - 1}` });
    const progress = (cycle - 1) / Math.max(1, options.cycles - 1);
    const validRate = 0.35 + 0.35 * Math.sin(progress * Math.PI);
    const failures: Record<string, number> = {};
    const accuracies: number[] = [];
    const selected: string[] = [];
    let valid = 0;
    for (let i = 0; i < count; i++, made++) {
      const candidate = `c${String(cycle).padStart(2, '0')}-${String(i).padStart(4, '0')}`;
      push('candidate.started', { cycle, candidate, index: i });
      push('candidate.generated', {
        cycle,
        candidate,
        code: `class Net(nn.Module):  # ${candidate}\n    pass\n`,
        attempts: 1 + Math.floor(random() * 3),
        tokens: 400 + Math.floor(random() * 900),
        seconds: 3 + random() * 20,
      });
      const params = 20_000 + Math.floor(random() * 280_000);
      if (random() > validRate) {
        const outcome = FAILURES[Math.floor(random() * FAILURES.length)] as Outcome;
        failures[outcome] = (failures[outcome] ?? 0) + 1;
        push('candidate.validated', {
          cycle,
          candidate,
          ok: false,
          outcome,
          message: options.hostile && i % 7 === 0 ? hostile(i) : `${outcome} at line ${1 + (i % 40)}`,
          line: 1 + (i % 40),
          params: null,
        });
        continue;
      }
      valid++;
      push('candidate.validated', { cycle, candidate, ok: true, outcome: 'ok', message: null, line: null, params });
      const maxJaccard = Math.min(1, Math.max(0, 0.25 + 0.55 * random() + (random() < 0.12 ? 0.3 : 0)));
      const novel = maxJaccard < threshold;
      push('candidate.novelty', {
        cycle,
        candidate,
        maxJaccard,
        nearest: options.hostile && i % 5 === 0 ? hostile(i + 1).slice(0, 256) : `lemur/${1000 + Math.floor(random() * 9000)}.py`,
        novel,
        signature: `sig${cycle}x${i}`,
      });
      if (!novel) continue;
      if (random() < 0.05) {
        const outcome = EVAL_FAILURES[Math.floor(random() * EVAL_FAILURES.length)] as Outcome;
        failures[outcome] = (failures[outcome] ?? 0) + 1;
        push('candidate.evaluated', {
          cycle,
          candidate,
          outcome,
          accuracy: null,
          params,
          trainSeconds: 30 + random() * 600,
          evalSeconds: null,
          peakMemoryMB: null,
          imagesPerSecond: null,
          message: `${outcome} during training`,
        });
        continue;
      }
      const accuracy = Math.min(100, Math.max(10, 25 + 25 * progress + 12 * (random() - 0.3)));
      accuracies.push(accuracy);
      push('candidate.evaluated', {
        cycle,
        candidate,
        outcome: 'ok',
        accuracy,
        params,
        trainSeconds: 30 + random() * 300,
        evalSeconds: 2 + random() * 5,
        peakMemoryMB: 200 + random() * 2000,
        imagesPerSecond: 500 + random() * 5000,
        message: null,
      });
      if (accuracy >= 40) selected.push(candidate);
      if (i % 11 === 0) push('candidate.verdict', { cycle, candidate, verdict: i % 22 === 0 ? 'reject' : 'accept' });
      if (i % 13 === 0) {
        push('candidate.annotated', {
          cycle,
          candidate,
          text: options.hostile ? hostile(i) : `note on ${candidate}: residual stem`,
          tags: ['review'],
        });
      }
    }
    totalTrainPrompts += selected.length;
    push('cycle.selected', {
      cycle,
      selected,
      reasons: Object.fromEntries(selected.map((id) => [id, 'threshold' as const])),
      totalTrainPrompts,
    });
    const steps = options.finetuneSteps ?? 20;
    for (let step = 1; step <= steps; step++) {
      push('finetune.progress', {
        cycle,
        step,
        total: steps,
        loss: 2.2 * Math.exp(-step / (steps / 2)) + 0.3 + 0.05 * random(),
        etaSeconds: (steps - step) * 4,
      });
    }
    push('finetune.done', { cycle, adapter: `adapter-c${cycle}`, steps, loss: 0.4, seconds: steps * 4 });
    const atLeast40 = accuracies.filter((a) => a >= 40).length;
    const cycleStats: CycleStats = {
      cycle,
      generated: count,
      valid,
      validPct: (100 * valid) / count,
      validCI: wilsonPercent(valid, count),
      trained: accuracies.length,
      bestAcc: accuracies.length ? Math.max(...accuracies) : null,
      meanAcc: accuracies.length ? accuracies.reduce((a, b) => a + b, 0) / accuracies.length : null,
      atLeast40Pct: accuracies.length ? (100 * atLeast40) / accuracies.length : null,
      atLeast40CI: accuracies.length ? wilsonPercent(atLeast40, accuracies.length) : null,
      uniqueModels: selected.length,
      totalTrainPrompts,
      failures,
      stageSeconds: { generate: count * 9, validate: count * 0.4, evaluate: accuracies.length * 120 },
    };
    stats.push(cycleStats);
    push('cycle.finished', { cycle, stats: cycleStats });
  }
  push('run.finished', { reason: 'completed', cycles: stats.length });
  return { events, stats, candidateCount: made };
}

/**
 * Live events of one more cycle after `fixture`, for the per-event cost: candidates flowing through the stages and
 * fine-tune steps, numbered after the fixture's last seq.
 */
export function makeLiveEvents(after: Fixture, count: number, seed = 11): Event[] {
  const random = prng(seed);
  const last = after.events[after.events.length - 1];
  let seq = last ? last.seq : 0;
  const cycle = after.stats.length + 1;
  const out: Event[] = [];
  const push = <K extends Event['kind']>(kind: K, data: Extract<Event, { kind: K }>['data']): void => {
    out.push({ type: 'event', seq: ++seq, run: RUN_ID, ts: 1_790_000_000_000 + seq, kind, data } as Event);
  };
  push('cycle.started', { cycle, candidates: 150, adapter: `adapter-c${cycle - 1}` });
  for (let i = 0; out.length < count; i++) {
    const candidate = `live-${i}`;
    push('candidate.started', { cycle, candidate, index: i });
    push('candidate.generated', { cycle, candidate, code: 'x = 1\n', attempts: 1, tokens: 500, seconds: 4 });
    push('candidate.validated', { cycle, candidate, ok: true, outcome: 'ok', message: null, line: null, params: 90_000 });
    push('candidate.novelty', { cycle, candidate, maxJaccard: random(), nearest: 'lemur/1.py', novel: true, signature: 's' });
    push('candidate.evaluated', {
      cycle,
      candidate,
      outcome: 'ok',
      accuracy: 30 + 20 * random(),
      params: 90_000,
      trainSeconds: 60,
      evalSeconds: 3,
      peakMemoryMB: 300,
      imagesPerSecond: 2000,
      message: null,
    });
    push('finetune.progress', { cycle, step: i + 1, total: 1000, loss: 2 * Math.exp(-i / 100) + 0.2, etaSeconds: 10 });
  }
  return out.slice(0, count);
}

/** The snapshot the host would send for these events (folded with the same reducer the host uses). */
export function snapshotOf(events: readonly Event[]): DashboardSnapshot {
  return toSnapshot(fromEvents(events.map(toDashboardEvent)));
}
