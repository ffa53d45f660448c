/** The first message each way is a hello; a version mismatch must be a clear error naming both versions (docs/DESIGN.md). */
import type { Hello } from './messages';

export type HelloCheck = { ok: true; hello: Hello } | { ok: false; problem: 'not_hello' | 'wrong_role' | 'version_mismatch'; message: string };

/**
 * Checks the backend's first message, as the extension sees it. `message` is what a decoder produced (any message,
 * or anything at all); returns a problem with a sentence for the user instead of throwing.
 */
export function checkHello(message: unknown, expectedVersion: number, expectedRole: Hello['role'] = 'server'): HelloCheck {
  const hello = message as Partial<Hello> | null;
  if (hello === null || typeof hello !== 'object' || hello.type !== 'hello' || typeof hello.protocol !== 'number') {
    const got = hello !== null && typeof hello === 'object' && typeof hello.type === 'string' ? `a "${hello.type}" message` : 'something else';
    return {
      ok: false,
      problem: 'not_hello',
      message: `the backend did not start with a hello (got ${got}): it is not an ArchLoop backend, or one too old to speak protocol ${expectedVersion}; redeploy the backend from this extension`,
    };
  }
  if (hello.role !== expectedRole) {
    return { ok: false, problem: 'wrong_role', message: `the peer says it is a ${String(hello.role)}, expected a ${expectedRole}: the two ends are connected the wrong way round` };
  }
  if (hello.protocol !== expectedVersion) {
    const fix =
      hello.protocol > expectedVersion
        ? 'update the ArchLoop extension, or redeploy the backend that ships with this extension'
        : 'redeploy the backend from this extension so both ends match';
    return {
      ok: false,
      problem: 'version_mismatch',
      message: `backend speaks protocol ${hello.protocol}, this extension speaks ${expectedVersion}: ${fix}`,
    };
  }
  return { ok: true, hello: hello as Hello };
}
