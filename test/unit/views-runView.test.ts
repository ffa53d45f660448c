// The run view folds an event stream (plus ephemeral token deltas) into what the tree and status bar show.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, applyStream, bestAccuracy, countCycle, emptyRunView, foldEvents } from '../../src/session/views/runView';
import { EventScript, midCycleScript } from './viewsFixtures';

describe('runView fold', () => {
  it('tracks each candidate to the furthest stage it reached', () => {
    const view = foldEvents('r1', midCycleScript().events);
    const cycle = view.cycles[3];
    assert.ok(cycle);
    assert.deepEqual(cycle.order, ['c3-001', 'c3-002', 'c3-003', 'c3-004', 'c3-005']);
    assert.deepEqual(
      cycle.order.map((id) => cycle.candidates[id]?.status),
      ['trained', 'trained', 'invalid', 'duplicate', 'started'],
    );
    assert.equal(cycle.candidates['c3-003']?.outcome, 'shape_error');
    assert.equal(cycle.candidates['c3-003']?.line, 7);
    assert.equal(cycle.candidates['c3-004']?.maxJaccard, 0.93);
    assert.equal(view.plannedCycles, 22);
    assert.equal(view.lastSeq, midCycleScript().events.length);
  });

  it('counts generated, valid, novel, trained and best mid-cycle, before any stats arrive', () => {
    const cycle = foldEvents('r1', midCycleScript().events).cycles[3];
    assert.ok(cycle);
    assert.deepEqual(countCycle(cycle), { generated: 4, valid: 3, novel: 2, trained: 2, failed: 0, selected: 0, best: 52.1 });
  });

  it('ignores a replayed event (seq <= lastSeq) and returns the same object', () => {
    const script = midCycleScript();
    const view = foldEvents('r1', script.events);
    const replay = script.events[5];
    assert.ok(replay);
    assert.equal(applyEvent(view, replay), view);
  });

  it('never mutates the previous state (the tree diffs old against new)', () => {
    const script = midCycleScript();
    const before = foldEvents('r1', script.events);
    const snapshot = JSON.stringify(before);
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-001', verdict: 'accept' });
    const after = applyEvent(before, script.events[script.events.length - 1]!);
    assert.equal(JSON.stringify(before), snapshot);
    assert.equal(after.cycles[3]?.candidates['c3-001']?.verdict, 'accept');
    assert.equal(before.cycles[3]?.candidates['c3-001']?.verdict, null);
  });

  it('ignores events of another run', () => {
    const other = new EventScript('r2');
    other.created();
    const view = emptyRunView('r1');
    assert.equal(applyEvent(view, other.events[0]!), view);
  });

  it('builds a usable view when attached mid-run (no run.created, no cycle.started)', () => {
    const script = midCycleScript();
    const tail = script.events.filter((event) => event.kind !== 'run.created' && event.kind !== 'cycle.started');
    const view = foldEvents('r1', tail);
    assert.equal(view.plannedCycles, null);
    assert.equal(view.cycles[3]?.planned, null);
    assert.equal(countCycle(view.cycles[3]!).trained, 2);
  });

  it('a late candidate.validated does not move a trained candidate backwards', () => {
    const script = midCycleScript();
    script.emit('candidate.validated', { cycle: 3, candidate: 'c3-001', ok: true, outcome: 'ok', message: null, line: null, params: 1 });
    assert.equal(foldEvents('r1', script.events).cycles[3]?.candidates['c3-001']?.status, 'trained');
  });

  it('stream deltas mark a candidate generating and count characters; late deltas after the final code are ignored', () => {
    const script = midCycleScript();
    let view = foldEvents('r1', script.events);
    view = applyStream(view, script.stream(3, 'c3-005', 0, 'class Net('));
    view = applyStream(view, script.stream(3, 'c3-005', 10, 'nn.Module):'));
    assert.equal(view.cycles[3]?.candidates['c3-005']?.status, 'generating');
    assert.equal(view.cycles[3]?.candidates['c3-005']?.codeChars, 21);
    const trained = view.cycles[3]?.candidates['c3-001'];
    assert.equal(applyStream(view, script.stream(3, 'c3-001', 0, 'x')).cycles[3]?.candidates['c3-001'], trained);
    // A stream never advances lastSeq: it is not a persistent event.
    assert.equal(view.lastSeq, script.events.length);
  });

  it('selection, fine-tune progress, cycle finish and run finish move the phases on', () => {
    const script = midCycleScript();
    script.emit('cycle.selected', { cycle: 3, selected: ['c3-001'], reasons: { 'c3-001': 'threshold' }, totalTrainPrompts: 1699 });
    script.emit('finetune.progress', { cycle: 3, step: 40, total: 100, loss: 0.9, etaSeconds: 60 });
    let view = foldEvents('r1', script.events);
    assert.equal(view.cycles[3]?.phase, 'finetuning');
    assert.equal(view.cycles[3]?.candidates['c3-001']?.selectReason, 'threshold');
    script.emit('finetune.done', { cycle: 3, adapter: 'adapter-c3', steps: 100, loss: 0.8, seconds: 120 });
    script.emit('cycle.finished', { cycle: 3, stats: script.stats(3, { bestAcc: 60.5 }) });
    script.emit('run.finished', { reason: 'stopped', cycles: 3 });
    view = foldEvents('r1', script.events);
    assert.equal(view.cycles[3]?.phase, 'finished');
    assert.equal(view.phase, 'stopped');
    // The cycle's official stats win over the candidate-derived maximum.
    assert.equal(bestAccuracy(view), 60.5);
  });

  it('a fatal run.error fails the run; a non-fatal one is only recorded', () => {
    const script = midCycleScript();
    script.emit('run.error', { message: 'adapter load failed', stage: 'generate', fatal: false });
    assert.equal(foldEvents('r1', script.events).phase, 'running');
    script.emit('run.error', { message: 'disk full', stage: 'store', fatal: true });
    const view = foldEvents('r1', script.events);
    assert.equal(view.phase, 'failed');
    assert.equal(view.errors.length, 2);
  });
});
