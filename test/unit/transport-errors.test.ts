// errors: socket and DNS failures map onto the codes the UI branches on, with advice in the message.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { TransportError, classifyNetworkError } from '../../src/transport/errors.js';

const errno = (code: string) => Object.assign(new Error(`${code} something`), { code });

it('maps resolver and socket errors to dns, refused, timeout and disconnected', () => {
  assert.equal(classifyNetworkError(errno('ENOTFOUND'), 'gpu1:22').code, 'dns');
  assert.equal(classifyNetworkError(errno('EAI_AGAIN'), 'gpu1:22').code, 'dns');
  assert.equal(classifyNetworkError(errno('ECONNREFUSED'), 'gpu1:22').code, 'refused');
  assert.equal(classifyNetworkError(errno('EHOSTUNREACH'), 'gpu1:22').code, 'timeout');
  assert.equal(classifyNetworkError(errno('ECONNRESET'), 'gpu1:22').code, 'disconnected');
  assert.match(classifyNetworkError(errno('ENOTFOUND'), 'gpu1:22').message, /gpu1:22.*SSH config/);
  const original = new TransportError('auth', 'x');
  assert.equal(classifyNetworkError(original, 'gpu1'), original);
});

it('classifies a real resolver failure for a reserved .invalid name as dns', async () => {
  const error = await lookup('archloop-test.invalid').then(
    () => null,
    (failure: unknown) => failure,
  );
  assert.ok(error, '.invalid never resolves');
  assert.equal(classifyNetworkError(error, 'archloop-test.invalid:22').code, 'dns');
});
