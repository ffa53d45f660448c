// What the user is told about a run, decided from its fold before and after each event (session/notifications.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notificationLevel, notificationsFor, type NotificationLevel } from '../../src/session/notifications';
import { applyEvent, emptyRunView, type RunView } from '../../src/session/views/runView';
import { EventScript, midCycleScript } from './viewsFixtures';

/** Folds the script event by event and collects every notification, as the extension does while attached. */
function notices(script: EventScript, level: NotificationLevel = 'all', liveAfter = 0): string[] {
  let view: RunView = emptyRunView(script.run);
  const out: string[] = [];
  for (const event of script.events) {
    const after = applyEvent(view, event);
    out.push(...notificationsFor(view, after, level, liveAfter).map((n) => `${n.severity}: ${n.message}`));
    view = after;
  }
  return out;
}

function finishedRun(): EventScript {
  const script = midCycleScript();
  script.emit('cycle.selected', { cycle: 3, selected: ['c3-001', 'c3-004'], reasons: { 'c3-001': 'threshold', 'c3-004': 'fallback' }, totalTrainPrompts: 9 });
  script.emit('cycle.finished', { cycle: 3, stats: script.stats(3) });
  script.emit('run.error', { message: 'disk nearly full', stage: 'finetuning', fatal: false });
  script.emit('run.finished', { reason: 'completed', cycles: 3 });
  return script;
}

test('a finished cycle says its row of the table; the run finishing and errors say so', () => {
  assert.deepEqual(notices(finishedRun()), [
    'info: Run paper repro: cycle 3 of 22 finished — valid 75.0%, best 52.1%, mean 45.0%, 2 selected.',
    'warning: Run paper repro: error in finetuning: disk nearly full',
    'info: Run paper repro finished: 1 cycle. Run Next Cycles continues it.',
  ]);
});

test('a fatal error needs the user and says what to do; "errors" keeps only errors, "off" nothing', () => {
  const script = midCycleScript();
  script.emit('run.error', { message: 'free 2 GB in /runs', stage: 'generating', fatal: true });
  assert.deepEqual(notices(script, 'errors'), [
    'error: Run paper repro stopped on an error in generating: free 2 GB in /runs — fix the cause, then start it again.',
  ]);
  assert.deepEqual(notices(finishedRun(), 'errors'), ['warning: Run paper repro: error in finetuning: disk nearly full']);
  assert.deepEqual(notices(finishedRun(), 'off'), []);
  assert.equal(notificationLevel('nonsense'), 'all');
});

test('history replayed on attach does not notify: only events after the seq seen when attaching', () => {
  const script = finishedRun();
  const finishedAt = script.events.findIndex((e) => e.kind === 'cycle.finished') + 1; // seqs start at 1
  assert.deepEqual(notices(script, 'all', script.events.length), []);
  // Attached just after the cycle finished: only what came later.
  assert.deepEqual(
    notices(script, 'all', finishedAt).map((n) => n.split(':')[0]),
    ['warning', 'info'],
  );
});

test('pausing, resuming and a new target notify nothing: the user asked for them', () => {
  const script = midCycleScript();
  script.emit('run.paused', {});
  script.emit('run.resumed', {});
  script.emit('run.target_changed', { cycles: 23 });
  assert.deepEqual(notices(script), []);
});
