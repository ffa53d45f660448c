// The shared 7-token shingles that explain a near-duplicate, and a candidate's facts in words.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sharedRuns, sharedShingles, sharedSpans, shingles, tokenize } from '../../src/protocol/shingles';
import { describeEvaluation, formatAccuracy, noveltyVerdict } from '../../src/protocol/candidateFacts';

describe('shingles', () => {
  it('tokenises as the backend does: identifiers whole, every other non-space character alone', () => {
    assert.deepEqual(tokenize('self.fc1 = nn.Linear(32*32, 10)  # héllo_1'), [
      'self', '.', 'fc1', '=', 'nn', '.', 'Linear', '(', '3', '2', '*', '3', '2', ',', '1', '0', ')', '#', 'héllo_1',
    ]);
  });

  it('cuts 7-token shingles, and a code shorter than one shingle is one shingle', () => {
    assert.deepEqual(shingles('a b c d e f g h'), ['a b c d e f g', 'b c d e f g h']);
    assert.deepEqual(shingles('x = 1'), ['x = 1']);
    assert.deepEqual(shingles('   '), []);
  });

  it('lists the shingles two codes share, with their share and the exact Jaccard index', () => {
    const left = 'import torch\nclass Net(nn.Module):\n    def forward(self, x):\n        return self.a(x)\n';
    const right = 'import torch\nclass Net(nn.Module):\n    def forward(self, x):\n        return self.b(x)\n';
    const result = sharedShingles(left, right);
    assert.ok(result.shared.includes('import torch class Net ( nn .'));
    assert.ok(!result.shared.some((s) => s.includes(' a ') || s.includes(' b ')));
    assert.equal(result.left, tokenize(left).length - 6);
    assert.equal(result.jaccard, result.shared.length / (result.left + result.right - result.shared.length));
    assert.ok(result.shareOfLeft > 0.5 && result.shareOfLeft < 1);
    assert.deepEqual(sharedShingles(left, left).jaccard, 1);
    assert.deepEqual(sharedRuns(left, right), ['import torch class Net ( nn . Module ) : def forward ( self , x ) : return self .']);
  });

  it('locates the shared shingles in the source as merged character ranges, for highlighting', () => {
    const left = 'import torch\nclass Net(nn.Module):\n    def forward(self, x):\n        return self.a(x)\n';
    const right = 'import torch\nclass Net(nn.Module):\n    def forward(self, x):\n        return self.b(x)\n';
    const spans = sharedSpans(left, right);
    assert.equal(spans.length, 1);
    assert.equal(left.slice(...(spans[0] as [number, number])), left.slice(0, left.indexOf('self.a') + 'self.'.length));
    assert.deepEqual(sharedSpans(left, 'nothing in common here at all, no'), []);
    assert.deepEqual(sharedSpans('x = 1', 'x = 1'), [[0, 5]]);
  });
});

describe('candidate facts', () => {
  it('says on which data and protocol an accuracy was measured', () => {
    assert.equal(formatAccuracy(41.234, { data: 'synthetic', protocol: 'fast', epochs: 1 }), '41.2 % (synthetic, fast protocol, 1 epoch)');
    assert.equal(describeEvaluation({ data: 'cifar10', protocol: 'paper', epochs: 2 }), 'CIFAR-10, paper protocol, 2 epochs');
    assert.equal(describeEvaluation(null), 'data not recorded');
  });

  it('puts the novelty verdict in words, a near-duplicate let through included', () => {
    const base = { maxJaccard: 0.912, nearest: 'c0-0004', attempts: 3 };
    assert.equal(noveltyVerdict({ ...base, novel: null, evaluated: false }), 'not checked for novelty yet');
    assert.equal(noveltyVerdict({ ...base, novel: true, evaluated: true }), 'novel (highest Jaccard 0.91, with c0-0004)');
    assert.equal(noveltyVerdict({ ...base, novel: false, evaluated: false }), 'near-duplicate of c0-0004 at J=0.91');
    assert.equal(noveltyVerdict({ ...base, novel: false, evaluated: true }), 'near-duplicate of c0-0004 at J=0.91, let through after 3 attempts');
  });
});
