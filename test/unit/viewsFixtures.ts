// Fixture event sequences for the view-model and git-mirror tests. Every event goes through the real zod schema,
// so a fixture that drifts from the wire protocol fails loudly instead of testing a shape the backend never sends.
import { Event, Stream, type CycleStats, type EventKind, type EventOf } from '../../src/protocol/messages';

export class EventScript {
  private seq = 0;
  private ts = 1_764_000_000_000;
  readonly events: Event[] = [];

  constructor(readonly run = 'r1') {}

  emit<K extends EventKind>(kind: K, data: EventOf<K>['data']): EventOf<K> {
    this.seq += 1;
    this.ts += 1000;
    const event = Event.parse({ type: 'event', seq: this.seq, run: this.run, ts: this.ts, kind, data }) as EventOf<K>;
    this.events.push(event);
    return event;
  }

  stream(cycle: number, candidate: string, offset: number, delta: string, done = false): Stream {
    return Stream.parse({ type: 'stream', run: this.run, cycle, candidate, offset, delta, done });
  }

  created(cycles = 22, candidatesPerCycle = 150): void {
    this.emit('run.created', {
      name: 'paper repro',
      preset: 'paper',
      model: 'tiny-llama',
      cycles,
      candidatesPerCycle,
      protocol: 'fast',
      executor: 'local',
      config: {},
    });
  }

  /** One candidate through the whole pipeline; `accuracy` null means it failed validation with a shape error. */
  candidate(cycle: number, id: string, index: number, outcome: { accuracy: number | null; jaccard?: number; novel?: boolean }): void {
    this.emit('candidate.started', { cycle, candidate: id, index });
    this.emit('candidate.generated', { cycle, candidate: id, code: `class Net:  # ${id}\n    pass\n`, attempts: 1, tokens: 12, seconds: 0.5 });
    if (outcome.accuracy === null) {
      this.emit('candidate.validated', { cycle, candidate: id, ok: false, outcome: 'shape_error', message: 'mat1 and mat2 shapes cannot be multiplied', line: 7, params: null });
      return;
    }
    this.emit('candidate.validated', { cycle, candidate: id, ok: true, outcome: 'ok', message: null, line: null, params: 12345 });
    const novel = outcome.novel ?? true;
    this.emit('candidate.novelty', { cycle, candidate: id, maxJaccard: outcome.jaccard ?? 0.3, nearest: 'seed/resnet.py', novel, signature: 'abc' });
    if (!novel) return;
    this.emit('candidate.evaluated', {
      cycle, candidate: id, outcome: 'ok', accuracy: outcome.accuracy, params: 12345, trainSeconds: 3, evalSeconds: 1,
      peakMemoryMB: 100, imagesPerSecond: 5000, message: null,
    });
  }

  stats(cycle: number, overrides: Partial<CycleStats> = {}): CycleStats {
    return {
      cycle, generated: 4, valid: 3, validPct: 75, validCI: [30, 95], trained: 2, bestAcc: 52.1, meanAcc: 45, atLeast40Pct: 100,
      atLeast40CI: [34, 100], uniqueModels: 1, totalTrainPrompts: 1699, failures: { shape_error: 1 }, stageSeconds: { train: 6 },
      ...overrides,
    };
  }
}

/** Cycle 3 of 22 in flight: four candidates finished their checks, one is still streaming. */
export function midCycleScript(): EventScript {
  const script = new EventScript('r1');
  script.created(22, 150);
  script.emit('cycle.started', { cycle: 3, candidates: 150, adapter: 'adapter-c2' });
  script.candidate(3, 'c3-001', 0, { accuracy: 52.1 });
  script.candidate(3, 'c3-002', 1, { accuracy: 38.4 });
  script.candidate(3, 'c3-003', 2, { accuracy: null });
  script.candidate(3, 'c3-004', 3, { accuracy: 50, jaccard: 0.93, novel: false });
  script.emit('candidate.started', { cycle: 3, candidate: 'c3-005', index: 4 });
  return script;
}
