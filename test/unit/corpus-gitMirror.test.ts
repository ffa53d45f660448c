// GitMirror against real git: commits, tags, batching, resume, offline browsing and classified failures.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitMirror, MirrorError, openMirror, readCandidateCode } from '../../src/corpus';
import { EventScript, midCycleScript } from './viewsFixtures';

const scratch = mkdtempSync(join(tmpdir(), 'archloop-mirror-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => join(scratch, `run-${(counter += 1)}`);
const git = (dir: string, ...args: string[]): string => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();

function finishCycle3(script: EventScript): void {
  script.emit('cycle.selected', { cycle: 3, selected: ['c3-001'], reasons: { 'c3-001': 'threshold' }, totalTrainPrompts: 1699 });
  script.emit('finetune.done', { cycle: 3, adapter: 'adapter-c3', steps: 10, loss: 0.5, seconds: 4 });
  script.emit('cycle.finished', { cycle: 3, stats: script.stats(3, { generated: 4, valid: 3, bestAcc: 52.1 }) });
}

describe('GitMirror with real git', () => {
  it('commits run creation and each finished cycle (tagged), not every event', async () => {
    const dir = freshDir();
    const mirror = await GitMirror.open(dir, 'r1', { batchDelayMs: 60_000 });
    const script = midCycleScript();
    finishCycle3(script);
    for (const event of script.events) mirror.push(event);
    await mirror.close();
    assert.deepEqual(git(dir, 'log', '--format=%s').split('\n'), [
      'cycle 3: 4 generated, 3 valid, 1 selected (best 52.1%)',
      'run r1 created: paper repro (tiny-llama, 22 cycles x 150)',
    ]);
    assert.equal(git(dir, 'tag'), 'cycle-3');
    assert.equal(git(dir, 'status', '--porcelain'), '', 'nothing left uncommitted');
    assert.match(readFileSync(join(dir, 'cycle-03', 'c3-001.py'), 'utf8'), /class Net/);
    // The author lives in the repository's config, not the global one.
    assert.equal(git(dir, 'config', '--local', 'user.name'), 'ArchLoop');
  });

  it('records an author with quotes and backslashes exactly, in the repository config only', async () => {
    const dir = freshDir();
    const mirror = await GitMirror.open(dir, 'r1', { author: { name: 'Ada "the" Lovelace \\ AL', email: 'ada@example.org' } });
    await mirror.close();
    assert.equal(git(dir, 'config', '--local', 'user.name'), 'Ada "the" Lovelace \\ AL');
    assert.equal(git(dir, 'config', '--local', 'commit.gpgsign'), 'false');
  });

  it('batches a burst of verdicts into one commit after the delay', async () => {
    const dir = freshDir();
    const mirror = await GitMirror.open(dir, 'r1', { batchDelayMs: 50 });
    const script = midCycleScript();
    finishCycle3(script);
    for (const event of script.events) mirror.push(event);
    await mirror.flush();
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-002', verdict: 'accept' });
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-003', verdict: 'reject' });
    script.emit('candidate.annotated', { cycle: 3, candidate: 'c3-002', text: 'worth a second epoch', tags: ['promising'] });
    for (const event of script.events.slice(-3)) mirror.push(event);
    // The timer, not flush(), must produce the commit: poll for it (git is slow on a loaded 2-core machine).
    const before = Number(git(dir, 'rev-list', '--count', 'HEAD'));
    for (let waited = 0; waited < 15_000 && Number(git(dir, 'rev-list', '--count', 'HEAD')) === before; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(Number(git(dir, 'rev-list', '--count', 'HEAD')), before + 1, 'exactly one commit for the burst');
    assert.equal(git(dir, 'log', '-1', '--format=%s'), 'verdicts: accept c3-002, reject c3-003; annotations: c3-002');
    assert.deepEqual(git(dir, 'show', '--name-only', '--format=', 'HEAD').split('\n').sort(), ['cycle-03/c3-002.json', 'cycle-03/c3-003.json', 'run.json']);
    await mirror.close();
  });

  it('a finished run can be browsed offline with openMirror', async () => {
    const dir = freshDir();
    const mirror = await GitMirror.open(dir, 'r1');
    const script = midCycleScript();
    finishCycle3(script);
    script.emit('candidate.annotated', { cycle: 3, candidate: 'c3-001', text: 'nice', tags: ['keep'] });
    script.emit('run.finished', { reason: 'completed', cycles: 3 });
    for (const event of script.events) mirror.push(event);
    await mirror.close();

    const snapshot = await openMirror(dir);
    assert.equal(snapshot.run.name, 'paper repro');
    assert.equal(snapshot.run.finished, 'completed');
    assert.equal(snapshot.run.lastSeq, script.events.length);
    assert.deepEqual(snapshot.tags, ['cycle-3']);
    const [cycle] = snapshot.cycles;
    assert.equal(cycle?.record.stats?.bestAcc, 52.1);
    assert.equal(cycle?.record.finetuneAdapter, 'adapter-c3');
    assert.deepEqual(cycle?.candidates.map((c) => [c.candidate, c.status]), [
      ['c3-001', 'trained'], ['c3-002', 'trained'], ['c3-003', 'invalid'], ['c3-004', 'duplicate'], ['c3-005', 'started'],
    ]);
    assert.deepEqual(cycle?.candidates[0]?.annotations.map((a) => a.text), ['nice']);
    assert.match(await readCandidateCode(dir, 3, 'c3-002'), /c3-002/);
    assert.equal(snapshot.history[0]?.subject, 'run r1 completed after 1 cycles');
  });

  it('reopening continues after lastSeq: a replay from seq 1 adds no commit', async () => {
    const dir = freshDir();
    const script = midCycleScript();
    finishCycle3(script);
    const first = await GitMirror.open(dir, 'r1');
    for (const event of script.events) first.push(event);
    await first.close();
    const commits = git(dir, 'rev-list', '--count', 'HEAD');
    const second = await GitMirror.open(dir, 'r1');
    assert.equal(second.lastSeq, script.events.length);
    for (const event of script.events) second.push(event);
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-001', verdict: 'accept' });
    second.push(script.events[script.events.length - 1]!);
    await second.close();
    assert.equal(Number(git(dir, 'rev-list', '--count', 'HEAD')), Number(commits) + 1);
    assert.equal(git(dir, 'log', '-1', '--format=%s'), 'verdicts: accept c3-001');
  });

  it('closing mid-cycle commits the candidates so far as "in progress"', async () => {
    const dir = freshDir();
    const mirror = await GitMirror.open(dir, 'r1', { batchDelayMs: 60_000 });
    for (const event of midCycleScript().events) mirror.push(event);
    await mirror.close();
    assert.equal(git(dir, 'log', '-1', '--format=%s'), 'cycle 3 in progress: 4 generated, 3 valid, 0 selected (best 52.1%)');
    assert.equal(git(dir, 'status', '--porcelain'), '');
  });

  it('classifies bad input: not a mirror, corrupt record, another run\'s mirror, a file in the way', async () => {
    const empty = freshDir();
    execFileSync('mkdir', ['-p', empty]);
    await assert.rejects(openMirror(empty), (e: unknown) => e instanceof MirrorError && e.code === 'not_a_mirror');

    const dir = freshDir();
    const mirror = await GitMirror.open(dir, 'r1');
    for (const event of midCycleScript().events) mirror.push(event);
    await mirror.close();
    await assert.rejects(GitMirror.open(dir, 'other-run'), (e: unknown) => e instanceof MirrorError && e.code === 'wrong_run');
    writeFileSync(join(dir, 'cycle-03', 'c3-002.json'), '{"candidate": "c3-002", "status": "tra');
    await assert.rejects(openMirror(dir), (e: unknown) => e instanceof MirrorError && e.code === 'corrupt' && e.message.includes('c3-002.json'));

    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(GitMirror.open(join(file, 'run'), 'r1'), (e: unknown) => e instanceof MirrorError && e.code === 'io');
  });

  it('a git failure during a background flush reaches onError and the next flush, never push()', async () => {
    const dir = freshDir();
    const errors: MirrorError[] = [];
    const mirror = await GitMirror.open(dir, 'r1', { batchDelayMs: 10, onError: (e) => errors.push(e) });
    // A stale index lock is what a crashed git leaves behind: every commit fails until someone removes it.
    writeFileSync(join(dir, '.git', 'index.lock'), '');
    const script = midCycleScript();
    assert.doesNotThrow(() => {
      for (const event of script.events) mirror.push(event);
    });
    await assert.rejects(mirror.flush(), (e: unknown) => e instanceof MirrorError && e.code === 'git_failed');
    assert.ok(errors.length >= 1);
    rmSync(join(dir, '.git', 'index.lock'));
    finishCycle3(script);
    for (const event of script.events.slice(-3)) mirror.push(event);
    await mirror.close();
    // Once git works again the next commit sweeps up everything the failed one missed.
    assert.equal(git(dir, 'status', '--porcelain'), '');
    assert.equal(git(dir, 'log', '-1', '--format=%s'), 'cycle 3: 4 generated, 3 valid, 1 selected (best 52.1%)');
  });
});
