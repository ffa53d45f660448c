import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROTOCOL_VERSION, ServerMessage, checkHello, decodeLine } from '../../src/protocol';

const hello = (protocol: number, role: 'server' | 'client' = 'server') => ({ type: 'hello', protocol, role, software: 'archloop 0.1.0' });

test('a matching server hello passes and is returned', () => {
  const result = checkHello(hello(PROTOCOL_VERSION), PROTOCOL_VERSION);
  assert.ok(result.ok);
  assert.equal(result.hello.software, 'archloop 0.1.0');
});

test('a newer backend is a mismatch naming both versions and telling the user to update the extension', () => {
  const result = checkHello(hello(2), 1);
  assert.ok(!result.ok);
  assert.equal(result.problem, 'version_mismatch');
  assert.match(result.message, /^backend speaks protocol 2, this extension speaks 1: .*update the ArchLoop extension/);
});

test('an older backend is a mismatch telling the user to redeploy the backend', () => {
  const result = checkHello(hello(1), 3);
  assert.ok(!result.ok);
  assert.match(result.message, /^backend speaks protocol 1, this extension speaks 3: redeploy the backend/);
});

test('a first message that is not a hello, or a hello from the wrong side, is a clear error, not a throw', () => {
  const event = decodeLine('{"type":"log","level":"info","message":"m","ts":1}', ServerMessage);
  assert.ok(event?.ok);
  const notHello = checkHello(event.message, 1);
  assert.ok(!notHello.ok);
  assert.equal(notHello.problem, 'not_hello');
  assert.match(notHello.message, /did not start with a hello \(got a "log" message\)/);
  for (const junk of [null, undefined, 42, 'hello', [], {}]) assert.equal(checkHello(junk, 1).ok, false);
  const wrongRole = checkHello(hello(1, 'client'), 1);
  assert.ok(!wrongRole.ok);
  assert.equal(wrongRole.problem, 'wrong_role');
});
