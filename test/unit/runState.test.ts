// The run's state as every view shows it: pause, resume, a changed target and a requested stop are events, folded
// once (runFold.ts) and in the dashboard's header/live state, and the status bar and the tree say the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toDashboardEvent } from '../../src/protocol/dashboard';
import { fromEvents, liveElapsedMs } from '../../src/protocol/dashboardState';
import { elapsedMs, foldEvents, verdictEffect } from '../../src/session/views/runView';
import { formatStatusBar } from '../../src/session/views/statusBar';
import { buildTree } from '../../src/session/views/treeModel';
import { EventScript } from './viewsFixtures';

/** Cycle 2 of 3 under way, with two candidates generated (events one second apart). */
function cycleTwoOfThree(): EventScript {
  const script = new EventScript('r1');
  script.created(3, 4);
  script.emit('cycle.started', { cycle: 2, candidates: 4, adapter: null });
  script.candidate(2, 'c2-001', 0, { accuracy: 41 });
  script.emit('candidate.started', { cycle: 2, candidate: 'c2-002', index: 1 });
  return script;
}

function runDescription(script: EventScript): string {
  const [host] = buildTree([{ name: 'local', connection: 'local', runs: [foldEvents('r1', script.events)] }]);
  return host?.children[0]?.description ?? '';
}

test('Run Next Cycles during cycle 2 of 3 makes it cycle 2 of 4 everywhere', () => {
  const script = cycleTwoOfThree();
  script.emit('run.target_changed', { cycles: 4 });
  const view = foldEvents('r1', script.events);
  assert.equal(view.plannedCycles, 4);
  assert.match(formatStatusBar(view, undefined, view.lastTs ?? 0).text, /cycle 2\/4/);
  assert.match(runDescription(script), /cycle 2\/4/);
  assert.equal(fromEvents(script.events.map(toDashboardEvent)).run?.cycles, 4);
});

test('a paused run reads as paused in the fold, the tree, the status bar and the dashboard, and its clock stands still', () => {
  const script = cycleTwoOfThree();
  script.emit('run.paused', {});
  const paused = foldEvents('r1', script.events);
  assert.equal(paused.phase, 'paused');
  const at = paused.lastTs ?? 0;
  // Paused time does not count: an hour later the running time is what it was at the pause.
  assert.equal(elapsedMs(paused, at + 3_600_000), elapsedMs(paused, at));
  assert.equal(elapsedMs(paused, at), at - (script.events[0]?.ts ?? 0));
  const bar = formatStatusBar(paused, undefined, at + 3_600_000);
  assert.match(bar.text, /^ArchLoop: paused · cycle 2\/3 · generating 1\/4 · \d+s/);
  assert.match(runDescription(script), /^paused · cycle 2\/3 · generating 1\/4 · \d+s$/);
  const dashboard = fromEvents(script.events.map(toDashboardEvent));
  assert.equal(dashboard.live.hold, 'paused');
  assert.equal(liveElapsedMs(dashboard.live, at + 3_600_000), elapsedMs(paused, at));

  script.emit('run.resumed', {});
  const resumed = foldEvents('r1', script.events);
  assert.equal(resumed.phase, 'running');
  assert.equal(elapsedMs(resumed, (resumed.lastTs ?? 0) + 5000), elapsedMs(paused, at) + 5000);
  assert.doesNotMatch(formatStatusBar(resumed, undefined, resumed.lastTs ?? 0).text, /paused/);
  assert.equal(fromEvents(script.events.map(toDashboardEvent)).live.hold, 'none');
});

test('a requested stop reads as stopping until run.finished, and a cycle start does not forget it', () => {
  const script = cycleTwoOfThree();
  script.emit('run.stop_requested', {});
  assert.equal(foldEvents('r1', script.events).phase, 'stopping');
  assert.match(formatStatusBar(foldEvents('r1', script.events)).text, /^ArchLoop: stopping · cycle 2\/3/);
  assert.match(runDescription(script), /^stopping after the current step · /);
  script.emit('cycle.started', { cycle: 3, candidates: 4, adapter: null });
  assert.equal(fromEvents(script.events.map(toDashboardEvent)).live.hold, 'stopping');
  script.emit('run.finished', { reason: 'stopped', cycles: 2 });
  const stopped = foldEvents('r1', script.events);
  assert.equal(stopped.phase, 'stopped');
  assert.equal(fromEvents(script.events.map(toDashboardEvent)).live.hold, 'none');
  assert.match(formatStatusBar(stopped).text, /^ArchLoop: stopped after 0\/3 cycles · \d+s/);
});

test('a finished run started again with more cycles runs again', () => {
  const script = cycleTwoOfThree();
  script.emit('run.finished', { reason: 'completed', cycles: 3 });
  script.emit('run.target_changed', { cycles: 4 });
  script.emit('run.resumed', {});
  const view = foldEvents('r1', script.events);
  assert.deepEqual([view.phase, view.finished, view.plannedCycles], ['running', null, 4]);
  const dashboard = fromEvents(script.events.map(toDashboardEvent));
  assert.equal(dashboard.live.stage, 'idle');
});

test('a candidate rejected after its cycle was selected is not "selected" in the grid, the tree or its filter, and the verdict says which fine-tune it affects', () => {
  const script = cycleTwoOfThree();
  script.candidate(2, 'c2-002', 1, { accuracy: 48 });
  assert.equal(verdictEffect(foldEvents('r1', script.events), 2), "cycle 2's selection");
  script.emit('cycle.selected', { cycle: 2, selected: ['c2-001', 'c2-002'], reasons: { 'c2-001': 'threshold', 'c2-002': 'threshold' }, totalTrainPrompts: 2 });
  script.emit('candidate.verdict', { cycle: 2, candidate: 'c2-002', verdict: 'reject' });
  const view = foldEvents('r1', script.events);
  assert.equal(verdictEffect(view, 2), 'the next fine-tune onward');
  const rows = fromEvents(script.events.map(toDashboardEvent)).candidates.rows;
  assert.deepEqual(rows.map((r) => [r.id, r.status, r.verdict]), [['c2-001', 'selected', null], ['c2-002', 'trained', 'reject']]);
  const tree = buildTree([{ name: 'local', connection: 'local', runs: [view] }], { onlySelected: true });
  const shown = tree[0]?.children[0]?.children[0]?.children.map((n) => [n.label, n.contextValue]);
  assert.deepEqual(shown, [['c2-001', 'archloop.candidate.trained.selected']]);
});
