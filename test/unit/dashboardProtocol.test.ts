// The snapshot's fast row check (isCandidateRow / parseHostMessage) against zod: it may pass only what zod passes
// unchanged, and parseHostMessage must give zod's result for every message, valid or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CandidateRow, HostMessage, describeInvalid, isCandidateRow, parseHostMessage, toDashboardEvent } from '../../src/protocol/dashboard';
import { Id } from '../../src/protocol/messages';
import { toSnapshot, fromEvents } from '../../src/protocol/dashboardState';
import { HOSTILE_STRINGS, makeFixture } from '../webview/fixture';

const small = makeFixture({ cycles: 4, candidates: 120, seed: 3, hostile: true });
const snapshot = toSnapshot(fromEvents(small.events.map(toDashboardEvent)));
const rows = snapshot.candidates;

/** Values that sit on or just beyond the schema's bounds, of every type a field might be given. */
const odd: unknown[] = [
  undefined, null, true, 0, -0, -1, 0.5, 1, 1.5, 99.99, 100, 100.01, 300, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1,
  NaN, Infinity, -Infinity, '', 'a', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(256), 'x'.repeat(257),
  'x'.repeat(300), 'x'.repeat(301), 'x'.repeat(64 * 1024), 'x'.repeat(64 * 1024 + 1), 'ok', 'timeout', 'accept', 'reject', 'novel', 'bogus',
  '_c1', 'c1', 'c 1', 'c1\n', 'c1:a.b-c_d', [], [''], ['a'], ['x'.repeat(65)], Array(33).fill('t'), Array(32).fill('t'), [1], {}, { 0: 'a' },
  ...HOSTILE_STRINGS,
];
const fields = Object.keys(CandidateRow.shape);

/** What parseHostMessage must agree with: zod's verdict, its data, and its first error. */
function sameAsZod(message: unknown): void {
  const fast = parseHostMessage(message);
  const zod = HostMessage.safeParse(message);
  assert.equal(fast.success, zod.success, JSON.stringify(message)?.slice(0, 300));
  if (fast.success && zod.success) assert.deepEqual(fast.data, zod.data);
  if (!fast.success && !zod.success) assert.equal(describeInvalid(fast.error), describeInvalid(zod.error));
}

test('every row of a real snapshot passes the fast check, and the snapshot parses as zod parses it', () => {
  for (const row of rows) assert.ok(isCandidateRow(row), JSON.stringify(row));
  sameAsZod({ type: 'snapshot', state: snapshot });
});

test('the fast row check passes a changed row only when zod passes it unchanged', () => {
  let rejected = 0;
  for (const base of rows.slice(0, 12)) {
    for (const field of fields) {
      for (const value of odd) {
        const row: Record<string, unknown> = { ...base, [field]: value };
        if (value === undefined) delete row[field];
        const zod = CandidateRow.safeParse(row);
        if (isCandidateRow(row)) {
          assert.ok(zod.success, `fast check passed what zod rejects: ${field} = ${JSON.stringify(value)?.slice(0, 80)}`);
          assert.deepEqual(zod.data, row);
        } else rejected++;
      }
    }
  }
  assert.ok(rejected > 0);
});

test('rows zod would change or reject are left to zod: extra keys, odd prototypes, sparse arrays', () => {
  const row = rows[0] as CandidateRow;
  assert.equal(isCandidateRow({ ...row, extra: 1 }), false);
  assert.equal(isCandidateRow(Object.assign(Object.create({ inherited: 1 }), row)), false);
  assert.equal(isCandidateRow(Object.assign(Object.create(null), row)), false);
  assert.equal(isCandidateRow([row]), false);
  const withExtra = { type: 'snapshot', state: { ...snapshot, candidates: [{ ...row, extra: 1 }, ...rows.slice(1)] } };
  sameAsZod(withExtra); // accepted, with the key stripped, as zod does
  const sparse: unknown[] = [...rows];
  sparse.length += 1;
  sameAsZod({ type: 'snapshot', state: { ...snapshot, candidates: sparse } });
});

test('a snapshot that is invalid anywhere (a row, a bound, outside the rows) is rejected with zod’s error', () => {
  const row = rows[5] as CandidateRow;
  const withRow = (bad: unknown) => ({ type: 'snapshot', state: { ...snapshot, candidates: [...rows.slice(0, 5), bad, ...rows.slice(6)] } });
  for (const bad of [{ ...row, id: '<img src=x>' }, { ...row, accuracy: 101 }, { ...row, tags: [''] }, { ...row, cycle: -1 }, null, 'row']) {
    const message = withRow(bad);
    assert.equal(parseHostMessage(message).success, false, JSON.stringify(bad));
    sameAsZod(message);
  }
  for (const state of [{ ...snapshot, lastSeq: -1 }, { ...snapshot, candidates: 'rows' }, { ...snapshot, live: null }, { ...snapshot, errors: Array(51).fill(snapshot.errors[0] ?? null) }, null, undefined]) {
    assert.equal(parseHostMessage({ type: 'snapshot', state }).success, false);
    sameAsZod({ type: 'snapshot', state });
  }
  sameAsZod({ type: 'snapshot' });
  sameAsZod('snapshot');
});

test('parseHostMessage agrees with zod on randomly changed snapshots (property)', () => {
  fc.assert(
    fc.property(fc.nat(rows.length - 1), fc.constantFrom(...fields), fc.constantFrom(...odd), (at, field, value) => {
      const row: Record<string, unknown> = { ...(rows[at] as CandidateRow), [field]: value };
      sameAsZod({ type: 'snapshot', state: { ...snapshot, candidates: rows.map((r, i) => (i === at ? row : r)) } });
    }),
    { numRuns: 300 },
  );
});

test('the fast check’s id pattern is Id’s', () => {
  for (const value of odd) {
    if (typeof value !== 'string') continue;
    const row = { ...(rows[0] as CandidateRow), id: value };
    assert.equal(isCandidateRow(row), Id.safeParse(value).success, value.slice(0, 40));
  }
});

test('the fast check of novelty measures agrees with zod: bounds, names, exact keys, at most three', () => {
  const row = rows[0] as CandidateRow;
  const measure = { measure: 'graph', score: 0.97, nearest: 'c1-0003', duplicate: true, gate: false };
  const variants: unknown[] = [
    [measure],
    [measure, { ...measure, measure: 'minhash' }, { ...measure, measure: 'structure', nearest: null }],
    [measure, measure, measure, measure],
    [{ ...measure, score: 1.5 }],
    [{ ...measure, measure: 'embedding' }],
    [{ ...measure, duplicate: 'yes' }],
    [{ ...measure, extra: 1 }],
    [{ ...measure, nearest: 'x'.repeat(257) }],
    [null],
    {},
  ];
  for (const measures of variants) {
    const candidate = { ...row, measures, noveltyExplanation: 'near-duplicate by tokens: duplicate by the gate (minhash) [minhash]' };
    const zod = CandidateRow.safeParse(candidate);
    if (isCandidateRow(candidate)) {
      assert.ok(zod.success, JSON.stringify(measures));
      assert.deepEqual(zod.data, candidate);
    }
    sameAsZod({ type: 'snapshot', state: { ...snapshot, candidates: [candidate, ...rows.slice(1)] } });
  }
  assert.equal(isCandidateRow({ ...row, measures: [measure] }), true);
  assert.equal(isCandidateRow({ ...row, noveltyExplanation: 'x'.repeat(513) }), false);
});
