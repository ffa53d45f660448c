// Candidate tabs as plain data: URIs round-trip, the code store follows streams and the final event, the header says
// what a reviewer needs, and the seed-source argv never puts the key inside Python source.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import {
  CandidateCodeStore,
  candidateHeader,
  candidatePath,
  candidateText,
  headerLineCount,
  livePath,
  nearestPath,
  parseCandidatePath,
  parseLivePath,
  parseNearestPath,
  seedSourceArgv,
} from '../../src/session/candidateDocument';
import { foldEvents } from '../../src/session/views/runView';
import { EventScript } from './viewsFixtures';

describe('candidate document paths', () => {
  it('round-trips hosts with @, : and spaces, and rejects paths that are not candidates', () => {
    const address = { host: 'alice@gpu 1:2222', run: 'run-20261129-150412', cycle: 3, candidate: 'c3-0007' };
    assert.deepEqual(parseCandidatePath(candidatePath(address)), address);
    assert.equal(parseCandidatePath('/a/b/x/c.py'), undefined, 'cycle must be a number');
    assert.equal(parseCandidatePath('/a/b/1/c.txt'), undefined);
    assert.equal(parseCandidatePath('/a/b/1'), undefined);
    assert.equal(parseCandidatePath('/a/%E0%A4%A/1/c.py'), undefined, 'bad percent-encoding is not a candidate');
    assert.equal(parseCandidatePath(livePath('Local', 'r1')), undefined, 'a live path is not a candidate path');
  });

  it('keeps live and nearest paths apart from candidate paths', () => {
    assert.deepEqual(parseLivePath(livePath('Local', 'r1')), { host: 'Local', run: 'r1' });
    // The live tab is named after the candidate being written, and is never taken for that candidate's own tab.
    assert.equal(livePath('Local', 'r1', 'c2-0003').split('/').at(-1), 'c2-0003.live.py');
    assert.deepEqual(parseLivePath(livePath('Local', 'r1', 'c2-0003')), { host: 'Local', run: 'r1' });
    assert.equal(parseCandidatePath(livePath('Local', 'r1', 'c2-0003')), undefined);
    assert.deepEqual(parseNearestPath(nearestPath('Local', 'r1', 'seed:lenet')), { host: 'Local', run: 'r1', key: 'seed:lenet' });
    assert.equal(parseNearestPath(candidatePath({ host: 'Local', run: 'r1', cycle: 1, candidate: 'c1-0000' })), undefined);
  });
});

describe('CandidateCodeStore', () => {
  it('grows with stream deltas, rewrites overlaps at their offset, and lets the final event win', () => {
    const script = new EventScript('r1');
    const store = new CandidateCodeStore();
    const changes: string[] = [];
    store.onDidChange((_run, _cycle, candidate) => changes.push(candidate));
    store.applyStream(script.stream(1, 'c1-0000', 0, 'import '));
    store.applyStream(script.stream(1, 'c1-0000', 7, 'torch'));
    assert.equal(store.code('r1', 1, 'c1-0000'), 'import torch');
    store.applyStream(script.stream(1, 'c1-0000', 7, 'torch\n')); // replayed after a re-attach
    assert.equal(store.code('r1', 1, 'c1-0000'), 'import torch\n');
    assert.equal(store.isFinal('r1', 1, 'c1-0000'), false);
    script.emit('candidate.generated', { cycle: 1, candidate: 'c1-0000', code: 'import torch\nclass Net: ...\n', attempts: 1, tokens: 9, seconds: 1 });
    store.applyEvent(script.events.at(-1)!);
    assert.equal(store.code('r1', 1, 'c1-0000'), 'import torch\nclass Net: ...\n');
    assert.equal(store.isFinal('r1', 1, 'c1-0000'), true);
    store.applyStream(script.stream(1, 'c1-0000', 0, 'late delta'));
    assert.equal(store.code('r1', 1, 'c1-0000'), 'import torch\nclass Net: ...\n', 'a delta after the final code is ignored');
    assert.equal(store.codeById('r1', 'c1-0000'), 'import torch\nclass Net: ...\n');
    assert.equal(store.codeById('r2', 'c1-0000'), undefined);
    assert.deepEqual(changes, ['c1-0000', 'c1-0000', 'c1-0000', 'c1-0000']);
  });

  it('lists the code still streaming in a run, longest first, cut to its tail, without final code', () => {
    const script = new EventScript('r1');
    const store = new CandidateCodeStore();
    store.applyStream(script.stream(1, 'c1-0000', 0, 'import torch'));
    store.applyStream(script.stream(1, 'c1-0001', 0, 'import torch.nn as nn\n'));
    store.applyStream(script.stream(1, 'c1-0002', 0, 'class Net: ...'));
    script.emit('candidate.generated', { cycle: 1, candidate: 'c1-0002', code: 'class Net: ...\n', attempts: 1, tokens: 5, seconds: 1 });
    store.applyEvent(script.events.at(-1)!);
    store.applyStream({ ...script.stream(1, 'c1-0000', 0, 'x'), run: 'r2' });
    const pieces = store.streaming('r1', 8);
    assert.deepEqual(
      pieces.map((p) => [p.candidate, p.offset, p.delta, p.done]),
      [
        ['c1-0001', 14, 'n as nn\n', false],
        ['c1-0000', 4, 'rt torch', false],
      ],
    );
    assert.equal(store.streaming('r3').length, 0);
  });
});

describe('candidateHeader', () => {
  it('shows status, accuracy, Jaccard with the nearest neighbour, verdict and notes as Python comments', () => {
    const script = new EventScript('r1');
    script.created(3, 6);
    script.candidate(1, 'c1-0000', 0, { accuracy: 52.14, jaccard: 0.31 });
    script.emit('candidate.verdict', { cycle: 1, candidate: 'c1-0000', verdict: 'accept' });
    script.emit('candidate.annotated', { cycle: 1, candidate: 'c1-0000', text: 'nice\nresidual', tags: ['resnet'] });
    const view = foldEvents('r1', script.events);
    const candidate = view.cycles[1]?.candidates['c1-0000'];
    const header = candidateHeader(candidate, { host: 'Local', run: 'r1', cycle: 1, candidate: 'c1-0000' });
    assert.match(header, /^# c1-0000 · cycle 1 · trained\n/);
    assert.match(header, /accuracy 52\.1% \(data not recorded\)/);
    assert.match(header, /# novel \(highest Jaccard 0\.31, with seed\/resnet\.py\) · 1 sampling attempt\n/);
    assert.match(header, /# verdict: accept/);
    assert.match(header, /# note: nice residual \[resnet\]/);
    assert.ok(header.split('\n').slice(0, -1).every((line) => line.startsWith('# ')), header);
    assert.equal(headerLineCount(header), header.split('\n').length - 1);
  });

  it('names the data behind the accuracy and a near-duplicate let through after its retries, not just "trained"', () => {
    const script = new EventScript('r1');
    script.created(3, 6);
    script.emit('candidate.started', { cycle: 1, candidate: 'c1-0001', index: 1 });
    script.emit('candidate.generated', { cycle: 1, candidate: 'c1-0001', code: 'class Net: pass\n', attempts: 3, tokens: 9, seconds: 1 });
    script.emit('candidate.validated', { cycle: 1, candidate: 'c1-0001', ok: true, outcome: 'ok', message: null, line: null, params: 1000 });
    script.emit('candidate.novelty', {
      cycle: 1, candidate: 'c1-0001', maxJaccard: 0.91, nearest: 'c0-0004', novel: false, signature: 's',
      measures: [
        { measure: 'minhash', score: 0.91, nearest: 'c0-0004', duplicate: true, gate: true },
        { measure: 'structure', score: 1, nearest: 'c0-0004', duplicate: true, gate: false },
        { measure: 'graph', score: 0.99, nearest: 'c0-0004', duplicate: true, gate: false },
      ],
    });
    script.emit('candidate.evaluated', {
      cycle: 1, candidate: 'c1-0001', outcome: 'ok', accuracy: 41.23, params: 1000, trainSeconds: 3.5, evalSeconds: 0.4,
      peakMemoryMB: 212, imagesPerSecond: 900, message: null, data: 'synthetic', protocol: 'fast', epochs: 1,
    });
    script.emit('cycle.selected', { cycle: 1, selected: ['c1-0001'], reasons: { 'c1-0001': 'fallback' }, totalTrainPrompts: 1 });
    const candidate = foldEvents('r1', script.events).cycles[1]?.candidates['c1-0001'];
    const header = candidateHeader(candidate, { host: 'Local', run: 'r1', cycle: 1, candidate: 'c1-0001' });
    assert.match(header, /^# c1-0001 · cycle 1 · trained \(near-duplicate let through\)\n/);
    assert.match(header, /accuracy 41\.2% \(synthetic, fast protocol, 1 epoch\)/);
    assert.match(header, /trained in 3\.5 s · peak memory 212 MiB/);
    assert.match(header, /# near-duplicate of c0-0004 at J=0\.91, let through after 3 attempts/);
    assert.match(header, /# novelty three ways: tokens 0\.91 duplicate · AST 1\.00 duplicate \(not in the gate\) · graph 0\.99 duplicate \(not in the gate\)\n/);
    assert.match(header, /selected by the fallback threshold/);
  });

  it('the tab shows the header over the code; the nearest-neighbour diff gets the code alone', () => {
    const script = new EventScript('r1');
    script.created(3, 6);
    script.candidate(1, 'c1-0000', 0, { accuracy: 52.14, jaccard: 0.91 });
    const candidate = foldEvents('r1', script.events).cycles[1]?.candidates['c1-0000'];
    const address = { host: 'Local', run: 'r1', cycle: 1, candidate: 'c1-0000' };
    const code = 'import torch\nclass Net: pass\n';
    const tab = candidateText(candidate, address, code, false);
    assert.ok(tab.endsWith(code) && headerLineCount(candidateHeader(candidate, address)) >= 3, tab);
    assert.equal(candidateText(candidate, address, code, true), code);
    assert.equal(candidateText(candidate, address, undefined, true), '');
  });

  it('explains a candidate it has not seen instead of failing', () => {
    assert.match(candidateHeader(undefined, { host: 'Local', run: 'r1', cycle: 2, candidate: 'c2-0001' }), /not seen yet in run r1/);
  });
});

describe('seedSourceArgv', () => {
  it('reads a seed net through the real backend, with the name as an argument', () => {
    const python = resolve(__dirname, '..', '..', 'remote-python', '.venv', 'bin', 'python');
    const argv = seedSourceArgv(python, 'seed:lenet');
    assert.ok(argv);
    assert.equal(argv.at(-1), 'lenet');
    const code = execFileSync(argv[0] as string, argv.slice(1), { cwd: join(__dirname, '..', '..') }).toString();
    assert.match(code, /class Net/);
    assert.doesNotMatch(code, /^# family:/);
  });

  it('refuses keys that are not seed names (no quoting tricks reach Python)', () => {
    assert.equal(seedSourceArgv('python3', "seed:x'); import os; ('"), undefined);
    assert.equal(seedSourceArgv('python3', 'c1-0000'), undefined);
    assert.equal(seedSourceArgv('python3', 'lemur:foo'), undefined);
  });
});
