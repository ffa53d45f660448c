/** AbortSignal helpers shared by every async step of the connection layer (each one is cancellable). */

import { TransportError } from './errors.js';

export function cancelledError(what: string): TransportError {
  return new TransportError('cancelled', `${what} was cancelled.`);
}

/** Throws a `cancelled` TransportError if the signal has already fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw cancelledError(what);
}

/**
 * Races `promise` against the signal: rejects with `cancelled` as soon as it fires. `onAbort` runs once on
 * cancellation so the caller can release what the promise holds (a socket, a child process).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string, onAbort?: () => void): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    onAbort?.();
    promise.catch(() => undefined);
    return Promise.reject(cancelledError(what));
  }
  return new Promise<T>((resolve, reject) => {
    const listener = (): void => {
      onAbort?.();
      reject(cancelledError(what));
    };
    signal.addEventListener('abort', listener, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', listener);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', listener);
        reject(error);
      },
    );
  });
}
