/**
 * A transport that comes back after a drop: the first get() connects, later calls reuse the connection until it is
 * lost, then the next get() connects again. Concurrent callers share one connect attempt. The RunClient's re-attach
 * goes through here, so a dropped SSH link is re-established on its next backoff tick.
 */
import type { Transport } from '../transport/types';

export interface TransportSource {
  get(signal?: AbortSignal): Promise<Transport>;
  /** Closes the current connection, if any; get() after close() rejects. */
  close(): Promise<void>;
}

export function reconnectingTransport(connect: (signal?: AbortSignal) => Promise<Transport>): TransportSource {
  let current: Promise<Transport> | undefined;
  let closed = false;
  return {
    get(signal) {
      if (closed) return Promise.reject(new Error('the connection was closed'));
      if (!current) {
        const attempt = connect(signal).then((transport) => {
          transport.onDisconnect(() => {
            if (current === attempt) current = undefined;
          });
          return transport;
        });
        // A failed connect must not be cached: the next get() tries again.
        attempt.catch(() => {
          if (current === attempt) current = undefined;
        });
        current = attempt;
      }
      return current;
    },
    async close() {
      closed = true;
      const transport = await current?.catch(() => undefined);
      current = undefined;
      await transport?.close();
    },
  };
}
