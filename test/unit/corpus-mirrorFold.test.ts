// The mirror's pure fold decides every file and commit; these tests pin its commit policy without git.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyMirrorState, foldMirror, takeBatch, type MirrorState } from '../../src/corpus/mirrorFold';
import { EventScript, midCycleScript } from './viewsFixtures';
import type { Event } from '../../src/protocol/messages';

function fold(events: Event[], state: MirrorState = emptyMirrorState('r1')): MirrorState {
  return events.reduce(foldMirror, state);
}

describe('mirror fold', () => {
  it('writes code and metadata for each candidate, stats per cycle, and run.json', () => {
    const { batch } = takeBatch(fold(midCycleScript().events));
    const paths = batch.writes.map((w) => w.path).sort();
    assert.ok(paths.includes('cycle-03/c3-001.py'));
    assert.ok(paths.includes('cycle-03/c3-001.json'));
    assert.ok(paths.includes('cycle-03/stats.json'));
    assert.ok(paths.includes('run.json'));
    assert.ok(!paths.includes('cycle-03/c3-005.py'), 'a candidate still generating has no code yet');
    const meta = JSON.parse(batch.writes.find((w) => w.path === 'cycle-03/c3-003.json')!.content);
    assert.equal(meta.status, 'invalid');
    assert.equal(meta.outcome, 'shape_error');
    const dup = JSON.parse(batch.writes.find((w) => w.path === 'cycle-03/c3-004.json')!.content);
    assert.deepEqual([dup.status, dup.novelty.maxJaccard, dup.nearest], ['duplicate', 0.93, 'seed/resnet.py']);
  });

  it('commits the run creation, but not a cycle until it finishes', () => {
    const { batch } = takeBatch(fold(midCycleScript().events));
    assert.deepEqual(batch.commits, [{ message: ['run r1 created: paper repro (tiny-llama, 22 cycles x 150)'], paths: 'all', allowEmpty: true }]);
  });

  it('a finished cycle becomes one tagged commit with a summary', () => {
    const script = midCycleScript();
    const first = takeBatch(fold(script.events)).state;
    script.emit('cycle.selected', { cycle: 3, selected: ['c3-001'], reasons: { 'c3-001': 'threshold' }, totalTrainPrompts: 1699 });
    script.emit('cycle.finished', { cycle: 3, stats: script.stats(3, { generated: 41, valid: 22, bestAcc: 52.1 }) });
    const { batch } = takeBatch(fold(script.events, first));
    assert.equal(batch.commits.length, 1);
    assert.deepEqual(batch.commits[0], { message: ['cycle 3: 41 generated, 22 valid, 1 selected (best 52.1%)'], paths: 'all', tag: 'cycle-3' });
  });

  it('verdicts and annotations batch into one commit naming them, staging only their metadata', () => {
    const script = midCycleScript();
    const first = takeBatch(fold(script.events)).state;
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-001', verdict: 'reject' });
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-001', verdict: 'accept' });
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-002', verdict: 'reject' });
    script.emit('candidate.annotated', { cycle: 3, candidate: 'c3-004', text: 'near copy of seed', tags: ['dup'] });
    const { batch } = takeBatch(fold(script.events, first));
    assert.equal(batch.commits.length, 1);
    assert.deepEqual(batch.commits[0]?.message, ['verdicts: accept c3-001, reject c3-002; annotations: c3-004']);
    assert.deepEqual(batch.commits[0]?.paths, ['cycle-03/c3-001.json', 'cycle-03/c3-002.json', 'cycle-03/c3-004.json', 'run.json']);
  });

  it('closing mid-cycle commits the unfinished cycle as "in progress"', () => {
    const { batch } = takeBatch(takeBatch(fold(midCycleScript().events)).state, true);
    assert.deepEqual(batch.commits.map((c) => c.message[0]), ['cycle 3 in progress: 4 generated, 3 valid, 0 selected (best 52.1%)']);
  });

  it('ignores repeated seqs and other runs, so replay after reconnect writes nothing', () => {
    const script = midCycleScript();
    const state = takeBatch(fold(script.events)).state;
    const again = fold(script.events, state);
    assert.equal(again, state);
    const other = new EventScript('r2');
    other.created();
    assert.equal(foldMirror(state, other.events[0]!), state);
    assert.deepEqual(takeBatch(again).batch, { writes: [], commits: [] });
  });

  it('the run finishing is its own commit after the last cycle', () => {
    const script = midCycleScript();
    script.emit('cycle.finished', { cycle: 3, stats: script.stats(3) });
    script.emit('run.finished', { reason: 'completed', cycles: 3 });
    const beforeEnd = takeBatch(fold(script.events.slice(0, -2))).state;
    const final = takeBatch(fold(script.events.slice(-2), beforeEnd)).batch;
    assert.deepEqual(final.commits.map((c) => c.message[0]), ['cycle 3: 4 generated, 3 valid, 0 selected (best 52.1%)', 'run r1 completed after 1 cycles']);
  });
});
