import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { DashboardEvent, DashboardSnapshot, HostMessage, WebviewMessage, parseTags, toDashboardEvent, toDashboardStream } from '../../src/protocol/dashboard';
import { Event } from '../../src/protocol/messages';
import { applyEvent, applyEvents, applyStream, findCandidate, fromEvents, fromSnapshot, initialState, toSnapshot } from '../../src/protocol/dashboardState';
import { DEFAULT_QUERY, queryCandidates } from '../../webview/src/candidateQuery';
import { PAPER_ROWS } from '../../webview/src/paperReference';
import { HOSTILE_STRINGS, makeFixture, makeLiveEvents } from '../webview/fixture';

const small = makeFixture({ cycles: 4, candidates: 120, seed: 3, hostile: true });
const dashboardEvents = small.events.map(toDashboardEvent);

test('fixture events are valid wire events and their dashboard form is valid and carries no code', () => {
  for (const event of small.events) Event.parse(event);
  for (const event of dashboardEvents) {
    DashboardEvent.parse(event);
    if (event.kind === 'candidate.generated') assert.ok(!('code' in event.data) && event.data.codeChars > 0);
  }
});

test('snapshot reducer counts every candidate and keeps cycle stats in cycle order', () => {
  const state = fromEvents(dashboardEvents);
  assert.equal(state.loaded, true);
  assert.equal(state.candidates.rows.length, small.candidateCount);
  assert.deepEqual(state.cycles.map((c) => c.cycle), [1, 2, 3, 4]);
  assert.deepEqual(state.cycles, small.stats);
  assert.equal(state.lastSeq, small.events.at(-1)?.seq);
  assert.equal(state.live.stage, 'finished');
  assert.equal(state.run?.noveltyThreshold, 0.85);
});

test('candidate rows follow the loop: invalid keeps its error class, evaluated keeps accuracy, selected wins', () => {
  const state = fromEvents(dashboardEvents);
  for (const event of small.events) {
    if (event.kind === 'candidate.validated' && !event.data.ok) {
      const row = findCandidate(state.candidates, event.data.cycle, event.data.candidate);
      assert.equal(row?.status, 'invalid');
      assert.equal(row?.errorClass, event.data.outcome);
    }
    if (event.kind === 'candidate.evaluated' && event.data.outcome === 'ok') {
      const row = findCandidate(state.candidates, event.data.cycle, event.data.candidate);
      assert.equal(row?.accuracy, event.data.accuracy);
      assert.ok(row?.status === 'trained' || row?.status === 'selected');
    }
    if (event.kind === 'cycle.selected') {
      for (const id of event.data.selected) assert.equal(findCandidate(state.candidates, event.data.cycle, id)?.status, 'selected');
    }
  }
});

test('a snapshot validates, round-trips through JSON, and continues with later events like the full log', () => {
  const split = 200;
  const folded = fromEvents(dashboardEvents.slice(0, split));
  const wire = JSON.parse(JSON.stringify({ type: 'snapshot', state: toSnapshot(folded) }));
  const parsed = HostMessage.parse(wire);
  assert.ok(parsed.type === 'snapshot');
  DashboardSnapshot.parse(parsed.state);
  const continued = applyEvents(fromSnapshot(parsed.state), dashboardEvents.slice(split - 20));
  const whole = fromEvents(dashboardEvents);
  assert.deepEqual(continued.candidates.rows, whole.candidates.rows);
  assert.deepEqual(continued.cycles, whole.cycles);
  assert.deepEqual(continued.live, whole.live);
  assert.equal(continued.lastSeq, whole.lastSeq);
  assert.ok(findCandidate(continued.candidates, 1, 'c01-0003'));
});

test('an event already applied (seq <= lastSeq) changes nothing and returns the same state object', () => {
  const state = fromEvents(dashboardEvents);
  const replay = dashboardEvents[10] as DashboardEvent;
  assert.equal(applyEvent(state, replay), state);
});

test('replaying any prefix twice gives the same state as applying it once (dedupe by seq)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: dashboardEvents.length }), fc.integer({ min: 0, max: dashboardEvents.length }), (a, b) => {
      const [lo, hi] = a < b ? [a, b] : [b, a];
      const once = applyEvents(initialState(), dashboardEvents);
      const overlapped = applyEvents(applyEvents(initialState(), dashboardEvents.slice(0, hi)), dashboardEvents.slice(lo));
      assert.deepEqual(overlapped.candidates.rows, once.candidates.rows);
      assert.deepEqual(overlapped.cycles, once.cycles);
    }),
    { numRuns: 25 },
  );
});

test('states derived from the same parent do not see each other’s new candidates (shared index stays correct)', () => {
  const base = fromEvents(dashboardEvents.slice(0, 40));
  const seq = base.lastSeq;
  const started = (candidate: string): DashboardEvent => ({
    type: 'event', seq: seq + 1, run: 'r', ts: 0, kind: 'candidate.started', data: { cycle: 9, candidate, index: 0 },
  });
  const left = applyEvent(base, started('left'));
  const right = applyEvent(base, started('right'));
  assert.ok(findCandidate(left.candidates, 9, 'left'));
  assert.equal(findCandidate(left.candidates, 9, 'right'), undefined);
  assert.ok(findCandidate(right.candidates, 9, 'right'));
  assert.equal(findCandidate(right.candidates, 9, 'left'), undefined);
  assert.equal(findCandidate(base.candidates, 9, 'left'), undefined);
  const leftAgain = applyEvent(left, { ...started('more'), seq: seq + 2 });
  assert.ok(findCandidate(leftAgain.candidates, 9, 'left') && findCandidate(leftAgain.candidates, 9, 'more'));
});

test('only the slices an event touches change identity (views redraw by reference)', () => {
  const state = fromEvents(dashboardEvents);
  const live = makeLiveEvents(small, 12).map(toDashboardEvent);
  const afterProgress = applyEvent(state, live.find((e) => e.kind === 'cycle.started') as DashboardEvent);
  assert.equal(afterProgress.cycles, state.cycles);
  assert.equal(afterProgress.candidates, state.candidates);
  assert.notEqual(afterProgress.live, state.live);
  const verdict: DashboardEvent = {
    type: 'event', seq: state.lastSeq + 1, run: 'r', ts: 0, kind: 'candidate.verdict',
    data: { cycle: 1, candidate: 'c01-0000', verdict: 'reject' },
  };
  const afterVerdict = applyEvent(state, verdict);
  assert.equal(afterVerdict.live, state.live);
  assert.equal(afterVerdict.cycles, state.cycles);
  assert.equal(findCandidate(afterVerdict.candidates, 1, 'c01-0000')?.verdict, 'reject');
});

test('live view counts the stages of the current cycle and collects the fine-tune loss curve', () => {
  const live = makeLiveEvents(small, 60).map(toDashboardEvent);
  const state = applyEvents(fromEvents(dashboardEvents), live);
  assert.equal(state.live.cycle, 5);
  assert.equal(state.live.generated, 10);
  assert.equal(state.live.validated, 10);
  assert.equal(state.live.evaluated, 10);
  assert.equal(state.live.lossCurve.length, 9);
  assert.equal(state.live.stage, 'evaluating');
});

test('stream updates show the streaming candidate and clear when it is done or generated', () => {
  const state = fromEvents(dashboardEvents);
  const stream = toDashboardStream({ type: 'stream', run: 'r', cycle: 5, candidate: 'x1', offset: 100, delta: 'abc'.repeat(2000), done: false });
  assert.equal(stream.offset, 6100);
  assert.equal(stream.tail.length, 2048);
  const streaming = applyStream(state, stream);
  assert.equal(streaming.live.streaming?.candidate, 'x1');
  assert.equal(streaming.live.streaming?.chars, 6100);
  assert.equal(applyStream(streaming, { ...stream, done: true }).live.streaming, null);
});

test('the live code pane joins a candidate\'s deltas and follows one candidate of a batch at a time', () => {
  const base = fromEvents(dashboardEvents);
  const piece = (candidate: string, offset: number, delta: string, done = false) =>
    toDashboardStream({ type: 'stream', run: 'r', cycle: 5, candidate, offset, delta, done });
  // Three candidates sampled as one batch, their deltas interleaved as the backend streams them.
  let state = base;
  for (const [candidate, offset, delta] of [
    ['b0', 0, 'class Net'],
    ['b1', 0, 'import torch'],
    ['b0', 9, '(nn.Module):'],
    ['b2', 0, 'def supported'],
    ['b1', 12, '\nimport torch.nn'],
    ['b0', 21, '\n    def __init__'],
  ] as const) {
    state = applyStream(state, piece(candidate, offset, delta));
  }
  // The pane shows the first candidate's code so far, not the last token of whichever candidate spoke last.
  assert.deepEqual(state.live.streaming, { candidate: 'b0', chars: 38, tail: 'class Net(nn.Module):\n    def __init__' });
  const tails = Object.fromEntries(state.live.streams.map((s) => [s.candidate, s.tail]));
  assert.deepEqual(tails, { b0: 'class Net(nn.Module):\n    def __init__', b1: 'import torch\nimport torch.nn', b2: 'def supported' });
  // A piece repeated after a re-attach changes nothing; an overlapping one adds only what is new.
  assert.equal(applyStream(state, piece('b0', 9, '(nn.Module):')), state);
  const overlap = applyStream(state, piece('b0', 30, '__init__(self'));
  assert.equal(overlap.live.streaming?.tail, 'class Net(nn.Module):\n    def __init__(self');
  // A gap (missed deltas) starts the tail afresh from what arrived.
  assert.equal(applyStream(state, piece('b0', 100, 'x = 1')).live.streaming?.tail, 'x = 1');
  // The tail is capped at the end of the code.
  const long = applyStream(state, piece('b0', 38, 'y'.repeat(5000)));
  assert.equal(long.live.streaming?.tail.length, 2048);
  assert.ok(long.live.streaming?.tail.endsWith('yyy'));
  // b0 finishes (its generated event): the pane moves to the candidate that has written the most, with its tail.
  const generated = applyEvent(state, {
    type: 'event', seq: state.lastSeq + 1, run: 'r', ts: 0, kind: 'candidate.generated',
    data: { cycle: 5, candidate: 'b0', codeChars: 38, attempts: 1, tokens: 10, seconds: 1 },
  });
  assert.deepEqual(generated.live.streaming, { candidate: 'b1', chars: 28, tail: 'import torch\nimport torch.nn' });
  assert.deepEqual(generated.live.streams.map((s) => s.candidate).sort(), ['b1', 'b2']);
  // A done message for a candidate the pane does not follow only forgets it.
  const doneOther = applyStream(generated, piece('b2', 13, '', true));
  assert.equal(doneOther.live.streaming?.candidate, 'b1');
  assert.deepEqual(doneOther.live.streams.map((s) => s.candidate), ['b1']);
  assert.equal(applyStream(doneOther, piece('b1', 28, '', true)).live.streaming, null);
});

test('a fatal run error moves the stage to failed and keeps the message', () => {
  const state = fromEvents(dashboardEvents);
  const failed = applyEvent(state, {
    type: 'event', seq: state.lastSeq + 1, run: 'r', ts: 0, kind: 'run.error', data: { message: 'disk full', stage: 'train', fatal: true },
  });
  assert.equal(failed.live.stage, 'failed');
  assert.equal(failed.errors.at(-1)?.message, 'disk full');
});

test('query filters by cycle, status, verdict and text, and sorts with empty cells last', () => {
  const { rows } = fromEvents(dashboardEvents).candidates;
  const cycle2 = queryCandidates(rows, { ...DEFAULT_QUERY, cycle: 2 });
  assert.ok(cycle2.length > 0 && cycle2.every((p) => rows[p]?.cycle === 2));
  const invalid = queryCandidates(rows, { ...DEFAULT_QUERY, status: 'invalid' });
  assert.equal(invalid.length, rows.filter((r) => r.status === 'invalid').length);
  const rejected = queryCandidates(rows, { ...DEFAULT_QUERY, verdict: 'reject' });
  assert.ok(rejected.length > 0 && rejected.every((p) => rows[p]?.verdict === 'reject'));
  const none = queryCandidates(rows, { ...DEFAULT_QUERY, verdict: 'none' });
  assert.equal(none.length + queryCandidates(rows, { ...DEFAULT_QUERY, verdict: 'accept' }).length + rejected.length, rows.length);
  const byText = queryCandidates(rows, { ...DEFAULT_QUERY, text: 'ONERROR' });
  assert.ok(byText.length > 0 && byText.every((p) => JSON.stringify(rows[p]).toLowerCase().includes('onerror')));
  for (const direction of ['asc', 'desc'] as const) {
    const sorted = queryCandidates(rows, { ...DEFAULT_QUERY, sortKey: 'accuracy', sortDirection: direction }).map((p) => rows[p]?.accuracy ?? null);
    const present = sorted.filter((a): a is number => a !== null);
    assert.deepEqual(sorted.slice(present.length), Array(sorted.length - present.length).fill(null));
    const expected = [...present].sort((a, b) => (direction === 'asc' ? a - b : b - a));
    assert.deepEqual(present, expected);
  }
});

test('query on 10,000 rows gives what a plain filter and full sort give (precomputed keys change nothing)', () => {
  const { rows } = fromEvents(makeFixture({ cycles: 22, candidates: 10_000 }).events.map(toDashboardEvent)).candidates;
  assert.equal(rows.length, 10_000);
  const query = { ...DEFAULT_QUERY, sortKey: 'maxJaccard' as const, sortDirection: 'desc' as const, text: 'c1' };
  const expected = rows
    .map((row, position) => ({ row, position }))
    .filter(({ row }) => row.id.toLowerCase().includes('c1') || (row.nearest ?? '').toLowerCase().includes('c1') || (row.message ?? '').toLowerCase().includes('c1') || row.annotation.toLowerCase().includes('c1') || (row.errorClass ?? '').includes('c1') || row.tags.some((t) => t.includes('c1')))
    .sort((a, b) => {
      if (a.row.maxJaccard === b.row.maxJaccard) return a.position - b.position;
      if (a.row.maxJaccard === null) return 1;
      if (b.row.maxJaccard === null) return -1;
      return b.row.maxJaccard - a.row.maxJaccard;
    })
    .map(({ position }) => position);
  assert.ok(expected.length > 1000);
  assert.deepEqual(queryCandidates(rows, query), expected);
});

test('host and webview messages validate, and bad ones are rejected with a reason', () => {
  assert.ok(HostMessage.safeParse({ type: 'events', events: dashboardEvents.slice(0, 3) }).success);
  const snapshot = toSnapshot(fromEvents(dashboardEvents));
  const badRow = { ...snapshot, candidates: [{ ...snapshot.candidates[0], accuracy: 140 }] };
  assert.equal(HostMessage.safeParse({ type: 'snapshot', state: badRow }).success, false);
  assert.equal(HostMessage.safeParse({ type: 'events', events: [] }).success, false);
  assert.equal(HostMessage.safeParse({ type: 'snapshot', events: [] }).success, false);
  assert.ok(WebviewMessage.safeParse({ type: 'verdict', cycle: 1, candidate: 'c01-0001', verdict: 'accept' }).success);
  assert.equal(WebviewMessage.safeParse({ type: 'verdict', cycle: 1, candidate: '<img>', verdict: 'accept' }).success, false);
  assert.equal(WebviewMessage.safeParse({ type: 'annotate', cycle: 1, candidate: 'a', text: 'x', tags: [''] }).success, false);
  assert.deepEqual(parseTags(' a, b  a,,c '), ['a', 'b', 'c']);
  assert.ok(HOSTILE_STRINGS.length >= 3);
});

test('the paper reference rows match the results table in docs/METHOD.md', () => {
  const rows = readFileSync(resolve('docs/METHOD.md'), 'utf8') // the tests run from the repository root
    .split('\n')
    .filter((line) => /^\| \d+ \| [\d.]+ \|/.test(line))
    .map((line) => line.split('|').slice(1, -1).map((cell) => Number(cell.trim())));
  assert.equal(rows.length, PAPER_ROWS.length);
  rows.forEach((cells, i) => {
    const row = PAPER_ROWS[i];
    assert.deepEqual(cells, [row?.cycle, row?.validPct, row?.bestAcc, row?.meanAcc, row?.atLeast40Pct, row?.uniqueModels, row?.totalTrainPrompts]);
  });
});
