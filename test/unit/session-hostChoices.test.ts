// The Connect to Host quick pick's choices and the recent-hosts list.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostChoices, LOCAL_HOST, passphraseSecretKey, rememberRecent } from '../../src/session/hostChoices';

describe('hostChoices', () => {
  it('offers Local first, then recent, settings and ssh config hosts, each once', () => {
    const choices = hostChoices(['gpu2', 'gpu1'], ['gpu1', ' lab ', ''], ['gpu2', 'cluster', LOCAL_HOST]);
    assert.deepEqual(
      choices.map((c) => `${c.target}/${c.source}`),
      ['Local/local', 'gpu2/recent', 'gpu1/recent', 'lab/settings', 'cluster/ssh config'],
    );
  });
});

describe('rememberRecent', () => {
  it('moves a host to the front, keeps at most max, and never remembers Local', () => {
    assert.deepEqual(rememberRecent(['a', 'b', 'c'], 'c'), ['c', 'a', 'b']);
    assert.deepEqual(rememberRecent(['a', 'b'], 'x', 2), ['x', 'a']);
    assert.deepEqual(rememberRecent(['a'], LOCAL_HOST), ['a']);
    assert.deepEqual(rememberRecent(['a'], '  '), ['a']);
  });

  it('keys passphrases by host and identity file', () => {
    assert.notEqual(passphraseSecretKey('gpu1', '/k/id_ed25519'), passphraseSecretKey('gpu2', '/k/id_ed25519'));
  });
});
