// The fine-tune loss is kept per cycle: a new cycle starts a new curve but keeps the earlier ones (thinned), through
// the fold and through a snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DashboardSnapshot, LOSS_HISTORY_POINTS, type DashboardEvent } from '../../src/protocol/dashboard';
import { applyEvents, fromEvents, fromSnapshot, toSnapshot } from '../../src/protocol/dashboardState';

let seq = 0;
const e = (kind: string, data: Record<string, unknown>): DashboardEvent => ({ type: 'event', seq: ++seq, run: 'r', ts: 1_700_000_000_000 + seq, kind, data }) as DashboardEvent;

function cycle(n: number, steps: number): DashboardEvent[] {
  return [
    e('cycle.started', { cycle: n, candidates: 1, adapter: null }),
    ...Array.from({ length: steps }, (_, i) => e('finetune.progress', { cycle: n, step: i + 1, total: steps, loss: 3 / (n + i + 1), etaSeconds: null })),
  ];
}

test('a new cycle keeps the earlier fine-tunes\' loss curves, thinned, and starts its own', () => {
  seq = 0;
  const events = [
    e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 3, candidatesPerCycle: 1, protocol: 'fast', executor: 'local', config: {} }),
    ...cycle(1, 5),
    ...cycle(2, 1000),
    ...cycle(3, 2),
  ];
  const state = fromEvents(events);
  assert.deepEqual(state.live.lossCurve.map((p) => p.step), [1, 2]);
  assert.deepEqual(state.live.lossHistory.map((h) => h.cycle), [1, 2]);
  assert.deepEqual(state.live.lossHistory[0]?.points.map((p) => p.step), [1, 2, 3, 4, 5]);
  const second = state.live.lossHistory[1]?.points ?? [];
  assert.ok(second.length <= LOSS_HISTORY_POINTS && second.length >= LOSS_HISTORY_POINTS / 2, `${second.length} points`);
  assert.equal(second.at(-1)?.step, 1000, 'the final loss is kept');
  assert.equal(second[0]?.step, 1);

  const again = fromSnapshot(DashboardSnapshot.parse(JSON.parse(JSON.stringify(toSnapshot(state)))));
  assert.deepEqual(again.live.lossHistory, state.live.lossHistory);
  const fourth = applyEvents(again, cycle(4, 1));
  assert.deepEqual(fourth.live.lossHistory.map((h) => h.cycle), [1, 2, 3]);
});

test('a cycle without a fine-tune adds nothing, and a snapshot from before the history existed still loads', () => {
  seq = 0;
  const state = fromEvents([
    e('run.created', { name: 'demo', preset: 'demo', model: 'tiny', cycles: 2, candidatesPerCycle: 1, protocol: 'fast', executor: 'local', config: {} }),
    ...cycle(1, 0),
    ...cycle(2, 0),
  ]);
  assert.deepEqual(state.live.lossHistory, []);
  const snapshot = toSnapshot(state) as unknown as { live: Record<string, unknown> };
  delete snapshot.live['lossHistory'];
  assert.deepEqual(DashboardSnapshot.parse(snapshot).live.lossHistory, []);
});
