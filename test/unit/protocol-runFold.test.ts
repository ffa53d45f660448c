// One event stream, three views: the runs tree (runView), the dashboard's rows and the git mirror's records are all
// projections of protocol/runFold.ts, so for every candidate they must say the same thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toDashboardEvent } from '../../src/protocol/dashboard';
import { candidateOf, findCandidate, fromEvents, rowOf } from '../../src/protocol/dashboardState';
import type { Event } from '../../src/protocol/messages';
import { CandidateLabel, isSelectedNow } from '../../src/protocol/runFold';
import { CandidateRecord } from '../../src/corpus/mirrorRecords';
import { emptyMirrorState, foldMirror, takeBatch } from '../../src/corpus/mirrorFold';
import { foldEvents } from '../../src/session/views/runView';
import { makeFixture } from '../webview/fixture';
import { midCycleScript } from './viewsFixtures';

/** A finished hostile run, plus a cycle in flight with a selection, a verdict and a note. */
function streams(): { run: string; events: Event[] }[] {
  const script = midCycleScript();
  script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-004', verdict: 'accept' });
  script.emit('candidate.annotated', { cycle: 3, candidate: 'c3-003', text: 'shape bug', tags: ['stem'] });
  script.emit('cycle.selected', { cycle: 3, selected: ['c3-001', 'c3-004'], reasons: { 'c3-001': 'threshold', 'c3-004': 'accepted' }, totalTrainPrompts: 1699 });
  const fixture = makeFixture({ cycles: 3, candidates: 90, seed: 11, hostile: true });
  return [
    { run: 'r1', events: script.events },
    { run: 'fixture-run', events: fixture.events },
  ];
}

function mirrorRecords(run: string, events: readonly Event[]): Map<string, CandidateRecord> {
  const state = events.reduce(foldMirror, emptyMirrorState(run));
  const records = new Map<string, CandidateRecord>();
  for (const write of takeBatch(state).batch.writes) {
    if (!write.path.endsWith('.json') || write.path.endsWith('stats.json') || write.path === 'run.json') continue;
    const record = CandidateRecord.parse(JSON.parse(write.content));
    records.set(`${record.cycle}/${record.candidate}`, record);
  }
  return records;
}

test('the tree, the dashboard and the mirror agree on every candidate of one event stream', () => {
  for (const { run, events } of streams()) {
    const tree = foldEvents(run, events);
    const dashboard = fromEvents(events.map(toDashboardEvent));
    const mirror = mirrorRecords(run, events);
    let candidates = 0;
    const seen = new Set<string>();
    for (const cycle of tree.cycleOrder) {
      const view = tree.cycles[cycle]!;
      for (const id of view.order) {
        const c = view.candidates[id]!;
        const row = findCandidate(dashboard.candidates, cycle, id);
        const record = mirror.get(`${cycle}/${id}`);
        assert.ok(row && record, `${cycle}/${id} missing from a view`);
        assert.equal(record.status, c.status, `${cycle}/${id}: mirror vs tree`);
        assert.equal(row.status, isSelectedNow(c) ? 'selected' : c.status, `${cycle}/${id}: dashboard vs tree`);
        assert.deepEqual(row, rowOf(c), `${cycle}/${id}: the dashboard's row is the fold's candidate`);
        assert.deepEqual(
          [record.accuracy, record.verdict, record.selected, record.outcome, record.nearest],
          [c.accuracy, c.verdict, c.selected, c.outcome, c.nearest],
        );
        seen.add(c.status);
        candidates += 1;
      }
    }
    assert.equal(candidates, dashboard.candidates.rows.length);
    assert.equal(candidates, mirror.size);
    assert.ok(seen.size >= 4, `the stream should reach several statuses: ${[...seen].join(', ')}`);
  }
});

test('a row stands for its candidate: rowOf(candidateOf(row)) is the row, for every name a row can have', () => {
  for (const { events } of streams()) {
    for (const row of fromEvents(events.map(toDashboardEvent)).candidates.rows) assert.deepEqual(rowOf(candidateOf(row)), row);
  }
  const statuses = new Set(streams().flatMap(({ events }) => fromEvents(events.map(toDashboardEvent)).candidates.rows.map((r) => r.status)));
  for (const status of ['started', 'invalid', 'duplicate', 'trained', 'selected'] as const) assert.ok(statuses.has(status), status);
  assert.ok(statuses.size <= CandidateLabel.options.length);
});
