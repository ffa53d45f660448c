// Costs and lineage: the dashboard fold keeps each cycle's ledger (cost, what the fine-tune was trained on, the
// adapter that wrote the cycle) through a snapshot, the lineage rows say how the next cycle moved, and the runs
// tree's tooltip totals the run's cost and names the budget that ended it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HostMessage, parseHostMessage, toDashboardEvent } from '../../src/protocol/dashboard';
import { fromEvents, fromSnapshot, toSnapshot } from '../../src/protocol/dashboardState';
import { costTooltipLines, formatDeviceTime, lineageRows, novelPct, totalCost } from '../../src/protocol/costs';
import type { CycleCost } from '../../src/protocol/messages';
import { foldEvents } from '../../src/session/views/runView';
import { candidateTooltip } from '../../src/session/views/candidatePresentation';
import { buildTree } from '../../src/session/views/treeModel';
import { EventScript } from './viewsFixtures';

function cost(cycle: number, overrides: Partial<CycleCost> = {}): CycleCost {
  return {
    llmDevice: 'gpu',
    evalDevice: 'gpu',
    generation: { seconds: 100 * cycle, tokens: 1000 * cycle },
    validation: { seconds: 5 },
    novelty: { seconds: 1, checked: 10, novel: 10 - 2 * cycle },
    evaluation: { seconds: 60, deviceSeconds: 240, evaluated: 8 },
    finetune: { seconds: 300, tokens: 50_000, pairs: 100 + cycle },
    deviceSeconds: 100 * cycle + 240 + 300,
    tokens: 1000 * cycle + 50_000,
    novel40: 2,
    deviceSecondsPerNovel40: (100 * cycle + 540) / 2,
    ...overrides,
  };
}

/** Two finished cycles with costs and lineage, then a budget ends the run. */
function script(): EventScript {
  const s = new EventScript();
  s.created(5, 4);
  for (const cycle of [1, 2]) {
    s.emit('cycle.started', { cycle, candidates: 4, adapter: cycle === 1 ? null : `cycle-${cycle - 1}` });
    s.candidate(cycle, `c${cycle}-0001`, 1, { accuracy: 45 });
    s.emit('finetune.done', {
      cycle, adapter: `cycle-${cycle}`, steps: 10, loss: 1 / cycle, seconds: 300, tokens: 50_000,
      pairsByOrigin: { lemur: 90, seed: 9, selected: cycle, accepted: cycle === 2 ? 1 : 0 },
    });
    const stats = s.stats(cycle, { validPct: 60 + 10 * cycle, meanAcc: 40 + cycle });
    s.emit('cycle.finished', { cycle, stats, cost: cost(cycle) });
  }
  s.emit('run.finished', { reason: 'budget', cycles: 2, detail: 'budget: 0.5 GPU-hours reached after 0.51 h' });
  return s;
}

describe('costs and lineage', () => {
  it('the dashboard folds each cycle ledger and keeps it through a snapshot', () => {
    const state = fromEvents(script().events.map(toDashboardEvent));
    assert.deepEqual(
      state.ledger.map((l) => [l.cycle, l.writer, l.adapter, l.trainedOn?.selected, l.trainedTokens, l.loss, l.cost?.deviceSeconds]),
      [
        [1, null, 'cycle-1', 1, 50_000, 1, 640],
        [2, 'cycle-1', 'cycle-2', 2, 50_000, 0.5, 740],
      ],
    );
    assert.equal(state.endedBy, 'budget: 0.5 GPU-hours reached after 0.51 h');
    assert.equal(state.live.stage, 'stopped');
    const message = JSON.parse(JSON.stringify({ type: 'snapshot', state: toSnapshot(state) }));
    const parsed = parseHostMessage(message);
    assert.ok(parsed.success && parsed.data.type === 'snapshot');
    assert.ok(HostMessage.safeParse(message).success);
    const again = fromSnapshot(parsed.data.state);
    assert.deepEqual(again.ledger, state.ledger);
    assert.equal(again.endedBy, state.endedBy);
  });

  it('lineage rows say what each adapter was trained on and how the next cycle moved', () => {
    const state = fromEvents(script().events.map(toDashboardEvent));
    const [first, second] = lineageRows(state.ledger, state.cycles);
    assert.equal(first?.adapter, 'cycle-1');
    assert.deepEqual(first?.trainedOn, { lemur: 90, seed: 9, selected: 1, accepted: 0 });
    assert.equal(first?.nextCycle, 2);
    assert.equal(first?.validPctDelta, 10);
    assert.equal(first?.meanAccDelta, 1);
    assert.equal(first?.novelPctDelta, -20); // 80 % novel in cycle 1, 60 % in cycle 2
    assert.equal(second?.validPctDelta, null); // cycle 3 has not run
    assert.equal(novelPct(null), null);
  });

  it('totals add up per stage, per cycle and per novel net', () => {
    const t = totalCost([cost(1), null, cost(2)]);
    assert.equal(t.cycles, 2);
    assert.equal(t.deviceSeconds, 640 + 740);
    assert.equal(t.tokensGenerated, 3000);
    assert.equal(t.tokensTrained, 100_000);
    assert.equal(t.novel40, 4);
    assert.equal(t.deviceSecondsPerNovel40, (640 + 740) / 4);
    assert.deepEqual(t.byStage, { generation: 300, validation: 10, evaluation: 480, finetune: 600 });
    assert.equal(t.device, 'gpu');
    assert.equal(totalCost([cost(1, { llmDevice: 'cpu', evalDevice: 'cpu', novel40: 0 })]).deviceSecondsPerNovel40, null);
    assert.equal(formatDeviceTime(7200, 'gpu'), '2.00 GPU-h');
    assert.equal(formatDeviceTime(90, 'cpu'), '1.5 CPU-min');
    assert.deepEqual(costTooltipLines([]), []);
  });

  it('the run tooltip in the tree gives the run cost and the budget that ended it', () => {
    const run = foldEvents('r1', script().events);
    assert.equal(run.finished, 'budget');
    assert.equal(run.phase, 'stopped');
    const [host] = buildTree([{ name: 'gpu-box', connection: 'connected', runs: [run] }]);
    const tooltip = host?.children[0]?.tooltip ?? '';
    assert.match(tooltip, /budget: 0\.5 GPU-hours reached after 0\.51 h/);
    assert.match(tooltip, /cost \(2 cycles\): 23\.0 GPU-min, 5\.8 GPU-min per novel net ≥ 40 %/);
    assert.match(tooltip, /tokens: 3,000 generated, 100,000 trained/);
  });

  it('a candidate tooltip says what it cost and which adapter wrote it', () => {
    const s = new EventScript();
    s.created(2, 1);
    s.emit('cycle.started', { cycle: 2, candidates: 1, adapter: 'cycle-1' });
    s.emit('candidate.started', { cycle: 2, candidate: 'c2-0000', index: 0 });
    s.emit('candidate.generated', { cycle: 2, candidate: 'c2-0000', code: 'class Net: pass\n', attempts: 1, tokens: 320, seconds: 4.25, adapter: 'cycle-1' });
    s.emit('candidate.validated', { cycle: 2, candidate: 'c2-0000', ok: true, outcome: 'ok', message: null, line: null, params: 10, seconds: 0.5 });
    s.emit('candidate.novelty', { cycle: 2, candidate: 'c2-0000', maxJaccard: 0.2, nearest: null, novel: true, signature: 's' });
    s.emit('candidate.evaluated', {
      cycle: 2, candidate: 'c2-0000', outcome: 'ok', accuracy: 50, params: 10, trainSeconds: 11, evalSeconds: 1, peakMemoryMB: null,
      imagesPerSecond: null, message: null, device: 'gpu', deviceSeconds: 12,
    });
    const candidate = foldEvents('r1', s.events).cycles[2]?.candidates['c2-0000'];
    assert.ok(candidate);
    assert.equal(candidate.writer, 'cycle-1');
    assert.match(candidateTooltip(candidate), /^cost: generated by cycle-1: 320 tokens in 4\.3 s, validated in 0\.5 s, evaluated: 12\.0 GPU-s$/m);
  });
});
