/**
 * The webview's side of the host channel: typed, validated both ways. Outgoing messages are checked against the
 * shared schema before posting (a bug here should fail loudly in tests, not reach the host malformed).
 */
import { WebviewMessage, describeInvalid } from '../../src/protocol/dashboard';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface HostChannel {
  post(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}

/** Acquires the VS Code API (it may be acquired only once per webview) and wraps it. */
export function connectToHost(): HostChannel {
  const api = acquireVsCodeApi();
  return {
    post(message) {
      const checked = WebviewMessage.safeParse(message);
      if (!checked.success) {
        console.error('archloop dashboard: refusing to post an invalid message', describeInvalid(checked.error));
        return;
      }
      api.postMessage(checked.data);
    },
    getState: () => api.getState(),
    setState: (state) => api.setState(state),
  };
}
