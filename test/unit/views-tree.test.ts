// The tree model: hosts → runs → cycles → candidates, with icons, descriptions, tooltips and filters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { foldEvents } from '../../src/session/views/runView';
import { buildTree, type HostView, type TreeNode } from '../../src/session/views/treeModel';
import { formatStatusBar } from '../../src/session/views/statusBar';
import { EventScript, midCycleScript } from './viewsFixtures';

function hosts(events = midCycleScript().events): HostView[] {
  return [{ name: 'gpu-box', connection: 'connected', runs: [foldEvents('r1', events)] }];
}

function candidates(tree: TreeNode[]): TreeNode[] {
  return tree.flatMap((host) => host.children.flatMap((run) => run.children.flatMap((cycle) => cycle.children)));
}

describe('tree model', () => {
  it('nests hosts, runs, cycles and candidates with stable ids', () => {
    const [host] = buildTree(hosts());
    assert.ok(host);
    assert.equal(host.id, 'host:gpu-box');
    assert.equal(host.iconId, 'remote');
    const [run] = host.children;
    assert.equal(run?.id, 'run:gpu-box/r1');
    assert.equal(run?.label, 'paper repro');
    assert.equal(run?.description, 'running · cycle 3/22 · generating 4/150 · 19s');
    const [cycle] = run!.children;
    assert.equal(cycle?.id, 'cycle:gpu-box/r1/3');
    assert.equal(cycle?.description, '4/150 generated · 3 valid · best 52.1%');
    assert.deepEqual(
      cycle!.children.map((node) => [node.label, node.iconId, node.description]),
      [
        ['c3-001', 'pass', '52.1% · J 0.30'],
        ['c3-002', 'pass', '38.4% · J 0.30'],
        ['c3-003', 'error', 'shape_error'],
        ['c3-004', 'copy', 'not novel · J 0.93'],
        ['c3-005', 'circle-outline', 'queued'],
      ],
    );
    assert.deepEqual(cycle!.children[0]?.ref, { host: 'gpu-box', run: 'r1', cycle: 3, candidate: 'c3-001' });
  });

  it('puts the failure, line and message in an invalid candidate\'s tooltip', () => {
    const invalid = candidates(buildTree(hosts())).find((node) => node.label === 'c3-003');
    assert.match(invalid!.tooltip, /outcome: shape_error at line 7/);
    assert.match(invalid!.tooltip, /mat1 and mat2/);
  });

  it('shows selection and verdicts in icon, description and contextValue', () => {
    const script = midCycleScript();
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-001', verdict: 'accept' }); // in time for cycle 3's selection
    script.emit('cycle.selected', { cycle: 3, selected: ['c3-001'], reasons: { 'c3-001': 'threshold' }, totalTrainPrompts: 1699 });
    script.emit('candidate.verdict', { cycle: 3, candidate: 'c3-002', verdict: 'reject' }); // after it: the next fine-tune
    script.emit('candidate.annotated', { cycle: 3, candidate: 'c3-002', text: 'copies the seed', tags: ['dup'] });
    const nodes = candidates(buildTree(hosts(script.events)));
    const selected = nodes.find((node) => node.label === 'c3-001')!;
    assert.equal(selected.iconId, 'star-full');
    assert.equal(selected.contextValue, 'archloop.candidate.trained.selected.accept');
    assert.equal(selected.description, '52.1% · J 0.30 · selected · accepted');
    assert.match(selected.tooltip, /verdict: accept, counts in cycle 3's selection/);
    const rejected = nodes.find((node) => node.label === 'c3-002')!;
    assert.equal(rejected.description, '38.4% · J 0.30 · rejected from the next fine-tune · 1 note');
    assert.match(rejected.tooltip, /verdict: reject, given after the cycle was selected: it counts from the next fine-tune onward/);
    assert.equal(rejected.contextValue, 'archloop.candidate.trained.reject');
    assert.match(rejected.tooltip, /note: copies the seed \[dup\]/);
  });

  it('filters by status, verdict, accuracy and text, hiding cycles left empty', () => {
    const script = midCycleScript();
    script.emit('candidate.annotated', { cycle: 3, candidate: 'c3-002', text: 'Odd pooling', tags: ['pooling'] });
    script.emit('cycle.started', { cycle: 4, candidates: 150, adapter: 'adapter-c3' });
    script.candidate(4, 'c4-001', 0, { accuracy: null });
    const labels = (filter: Parameters<typeof buildTree>[1]): string[] => candidates(buildTree(hosts(script.events), filter)).map((node) => node.label);
    assert.deepEqual(labels({ statuses: new Set(['invalid']) }), ['c4-001', 'c3-003']);
    assert.deepEqual(labels({ minAccuracy: 40 }), ['c3-001']); // c3-004 (not novel) never trained
    assert.deepEqual(labels({ text: 'POOL' }), ['c3-002']);
    assert.deepEqual(labels({ verdict: 'accept' }), []);
    assert.equal(labels({ verdict: 'none' }).length, 6);
    // Cycle 4 has nothing at >= 40%, so it disappears; the run and host stay.
    const [host] = buildTree(hosts(script.events), { minAccuracy: 40 });
    assert.deepEqual(host!.children[0]!.children.map((cycle) => cycle.label), ['Cycle 3']);
  });

  it('lists newest cycle first and keeps a freshly started empty cycle visible without a filter', () => {
    const script = midCycleScript();
    script.emit('cycle.started', { cycle: 4, candidates: 150, adapter: null });
    const [host] = buildTree(hosts(script.events));
    assert.deepEqual(host!.children[0]!.children.map((cycle) => [cycle.label, cycle.collapsible]), [['Cycle 4', 'none'], ['Cycle 3', 'collapsed']]);
  });

  it('opens the cycle being run, so its new candidates show as they arrive; earlier and finished cycles stay folded', () => {
    const script = midCycleScript();
    script.emit('cycle.started', { cycle: 4, candidates: 150, adapter: null });
    script.candidate(4, 'c4-001', 0, { accuracy: null });
    const collapsible = (): string[][] => buildTree(hosts(script.events))[0]!.children[0]!.children.map((cycle) => [cycle.label, cycle.collapsible]);
    assert.deepEqual(collapsible(), [['Cycle 4', 'expanded'], ['Cycle 3', 'collapsed']]);
    script.emit('cycle.finished', { cycle: 4, stats: script.stats(4) });
    assert.equal(collapsible()[0]?.[1], 'collapsed');
  });

  it('a host with no runs is a leaf with its connection icon', () => {
    const [host] = buildTree([{ name: 'laptop', connection: 'disconnected', runs: [] }]);
    assert.deepEqual([host!.iconId, host!.collapsible, host!.description], ['debug-disconnect', 'none', 'disconnected · 0 runs']);
  });
});

describe('status bar text', () => {
  it('reads "ArchLoop: cycle 3/22 · generating 41/150 · 2m 15s · best 52.1%" mid-cycle', () => {
    const script = midCycleScript();
    for (let i = 4; i < 41; i += 1) script.candidate(3, `c3-${String(i + 1).padStart(3, '0')}`, i, { accuracy: null });
    const view = foldEvents('r1', script.events);
    assert.equal(formatStatusBar(view, undefined, (view.lastTs ?? 0) + 5000).text, 'ArchLoop: cycle 3/22 · generating 41/150 · 2m 15s · best 52.1%');
  });

  it('shows fine-tuning progress, then the finished state', () => {
    const script = midCycleScript();
    script.emit('finetune.progress', { cycle: 3, step: 12, total: 300, loss: 1.1, etaSeconds: 100 });
    assert.equal(formatStatusBar(foldEvents('r1', script.events), undefined, script.events.at(-1)?.ts).text, `ArchLoop: cycle 3/22 · fine-tuning 12/300 · ${script.events.length - 1}s · best 52.1%`);
    script.emit('cycle.finished', { cycle: 3, stats: script.stats(3) });
    script.emit('run.finished', { reason: 'completed', cycles: 3 });
    assert.equal(formatStatusBar(foldEvents('r1', script.events)).text, `ArchLoop: finished after 1/22 cycles · ${script.events.length - 1}s · best 52.1%`);
  });

  it('says so when there is no run, when starting, and when disconnected', () => {
    assert.equal(formatStatusBar(undefined).text, 'ArchLoop: no run');
    const script = new EventScript('r1');
    script.created(5, 10);
    assert.equal(formatStatusBar(foldEvents('r1', script.events)).text, 'ArchLoop: starting');
    assert.match(formatStatusBar(foldEvents('r1', midCycleScript().events), 'disconnected').text, /^ArchLoop \(disconnected\): cycle 3\/22/);
  });
});
