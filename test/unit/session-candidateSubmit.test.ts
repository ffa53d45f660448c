// Submitting a human-written candidate as plain data: the check's problems land on the editor's lines (after a
// candidate tab's header), the backend's answer is read strictly, and the fold keeps who wrote each candidate.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { originLabel, problemRanges, readSubmitResult, submitMessage } from '../../src/session/candidateSubmit';
import { foldEvents } from '../../src/protocol/runFold';
import { toDashboardEvent } from '../../src/protocol/dashboard';
import { candidateOf, rowOf } from '../../src/protocol/dashboardState';
import { candidateHeader } from '../../src/session/candidateDocument';
import { candidateDescription, candidateTooltip } from '../../src/session/views/candidatePresentation';
import { EventScript } from './viewsFixtures';

const LINES = ['import torch', '', 'class Net(nn.Module):', '    def forward(self, x:', '        return x   ', ''];

describe('problemRanges', () => {
  it('puts a problem on its 1-based line, underlining the text without indentation or trailing blanks', () => {
    const [range] = problemRanges([{ line: 4, message: 'line 4: syntax error' }], LINES);
    assert.deepEqual(range, { line: 3, start: 4, end: 24, message: 'line 4: syntax error' });
    assert.deepEqual(problemRanges([{ line: 5, message: 'm' }], LINES)[0], { line: 4, start: 8, end: 16, message: 'm' });
  });

  it('shifts past a candidate tab header, and keeps problems without a line or past the end', () => {
    const header = ['# c1-0003 · cycle 1', '# verdict: none'];
    const ranges = problemRanges(
      [
        { line: 1, message: 'first' },
        { line: null, message: 'whole file' },
        { line: 0, message: 'zero' },
        { line: 99, message: 'past the end' },
      ],
      [...header, ...LINES],
      header.length,
    );
    assert.deepEqual(
      ranges.map((r) => r.line),
      [2, 2, 2, 7],
    );
    assert.equal(ranges[3]?.message, 'past the end');
  });

  it('underlines one character on an empty line and works on an empty document', () => {
    assert.deepEqual(problemRanges([{ line: 2, message: 'm' }], LINES)[0], { line: 1, start: 0, end: 1, message: 'm' });
    assert.deepEqual(problemRanges([{ line: 3, message: 'm' }], [])[0], { line: 0, start: 0, end: 1, message: 'm' });
  });
});

describe('readSubmitResult and submitMessage', () => {
  it('reads an accepted and a refused answer and says what happens next', () => {
    const accepted = readSubmitResult({ accepted: true, candidate: 'c2-0150', cycle: 2 });
    assert.match(submitMessage(accepted, 'c1-0007', 1), /c2-0150 \(edited from c1-0007\) to cycle 2.*when cycle 2 starts/);
    assert.doesNotMatch(submitMessage(accepted, null, 2), /starts/);
    const refused = readSubmitResult({ accepted: false, outcome: 'contract_error', problems: [{ line: 3, message: 'no Net' }] });
    assert.match(submitMessage(refused, null, 1), /1 problem \(contract_error\)/);
  });

  it('refuses an answer of another shape with a message that says to update the host', () => {
    assert.throws(() => readSubmitResult({ seq: 3 }), /not understood.*update ArchLoop on the host/);
    assert.throws(() => readSubmitResult({ accepted: false, outcome: 'ok', problems: [] }), /not understood/);
  });
});

describe('the fold keeps who wrote a candidate', () => {
  function script(): EventScript {
    const s = new EventScript();
    s.created(2, 2);
    s.emit('cycle.started', { cycle: 1, candidates: 2, adapter: null });
    s.emit('candidate.started', { cycle: 1, candidate: 'c1-0000', index: 0 });
    s.emit('candidate.generated', { cycle: 1, candidate: 'c1-0000', code: 'class Net: pass\n', attempts: 1, tokens: 5, seconds: 0.1 });
    s.emit('candidate.started', { cycle: 1, candidate: 'c1-0002', index: 2, origin: 'human', parent: 'c1-0000' });
    s.emit('candidate.generated', { cycle: 1, candidate: 'c1-0002', code: 'class Net: x = 1\n', attempts: 1, tokens: 0, seconds: 0, origin: 'human', parent: 'c1-0000' });
    s.emit('candidate.validated', { cycle: 1, candidate: 'c1-0002', ok: true, outcome: 'ok', message: null, line: null, params: 10, origin: 'human', parent: 'c1-0000' });
    s.emit('candidate.generated', { cycle: 1, candidate: 'c1-0003', code: 'class Net: y = 2\n', attempts: 1, tokens: 0, seconds: 0, origin: 'human', parent: null });
    return s;
  }

  it('marks human-written candidates with their parent and leaves the model’s as the model’s', () => {
    const view = foldEvents('r1', script().events);
    const cycle = view.cycles[1];
    assert.ok(cycle);
    const model = cycle.candidates['c1-0000'];
    const edited = cycle.candidates['c1-0002'];
    const scratch = cycle.candidates['c1-0003'];
    assert.deepEqual([model?.origin, model?.parent], ['model', null]);
    assert.deepEqual([edited?.origin, edited?.parent, edited?.step], ['human', 'c1-0000', 'validated']);
    assert.deepEqual([scratch?.origin, scratch?.parent], ['human', null]);
    assert.equal(originLabel(model!), '');
    assert.equal(originLabel(edited!), 'human-written, edited from c1-0000');
    assert.equal(originLabel(scratch!), 'human-written');
  });

  it('folds the same origin from the dashboard’s events, whose generated event carries no code', () => {
    const view = foldEvents('r1', script().events.map(toDashboardEvent));
    assert.equal(view.cycles[1]?.candidates['c1-0002']?.origin, 'human');
    assert.equal(view.cycles[1]?.candidates['c1-0002']?.parent, 'c1-0000');
  });
});

describe('human-written candidates in the tab header and the tree', () => {
  it('names the origin and the parent in the header line and the tree description and tooltip', () => {
    const s = new EventScript();
    s.created(1, 1);
    s.emit('candidate.started', { cycle: 1, candidate: 'c1-0001', index: 1, origin: 'human', parent: 'c1-0000' });
    s.emit('candidate.started', { cycle: 1, candidate: 'c1-0000', index: 0 });
    const cycle = foldEvents('r1', s.events).cycles[1];
    const human = cycle?.candidates['c1-0001'];
    const model = cycle?.candidates['c1-0000'];
    assert.ok(human && model);
    const address = { host: 'Local', run: 'r1', cycle: 1, candidate: 'c1-0001' };
    assert.match(candidateHeader(human, address).split('\n')[0] ?? '', /^# c1-0001 · cycle 1 · human-written, edited from c1-0000 · /);
    assert.doesNotMatch(candidateHeader(model, { ...address, candidate: 'c1-0000' }), /human/);
    assert.match(candidateDescription(human), /^human-written · /);
    assert.doesNotMatch(candidateDescription(model), /human/);
    assert.match(candidateTooltip(human), /\nhuman-written, edited from c1-0000\n?/);
  });
});

describe('human-written candidates in the dashboard rows', () => {
  it('carries origin and parent in a row and back, and leaves the model’s rows as they were', () => {
    const s = new EventScript();
    s.created(1, 1);
    s.emit('candidate.started', { cycle: 1, candidate: 'c1-0001', index: 1, origin: 'human', parent: 'c1-0000' });
    s.emit('candidate.started', { cycle: 1, candidate: 'c1-0000', index: 0 });
    const cycle = foldEvents('r1', s.events).cycles[1];
    const humanRow = rowOf(cycle!.candidates['c1-0001']!);
    const modelRow = rowOf(cycle!.candidates['c1-0000']!);
    assert.deepEqual([humanRow.origin, humanRow.parent], ['human', 'c1-0000']);
    assert.deepEqual([modelRow.origin, modelRow.parent], ['model', null]);
    assert.deepEqual(rowOf(candidateOf(humanRow)), humanRow);
    assert.deepEqual(rowOf(candidateOf(modelRow)), modelRow);
  });
});
