/**
 * The extension's view of one run: attaches to `archloop attach`, hands the UI a single ordered stream of events
 * (de-duplicated by seq), routes token streams, answers requests, and re-attaches after a dropped link.
 *
 * Failure behaviour, in one place:
 * - the attach process or the link dies → state 'reconnecting', backoff (0.5 s doubling to 15 s, with jitter), re-attach
 *   with `--since <last seq>`; events already delivered are not delivered again, none is skipped;
 * - a request in flight when the link drops is rejected with `disconnected` (it may or may not have been applied: the
 *   event stream after reconnecting tells which), a request without an answer in time with `timeout`;
 * - a malformed line from the remote is logged with its first bytes and dropped; the session goes on;
 * - a hello with another protocol version is fatal (state 'failed') with a message naming both versions.
 */
import { EventEmitter } from 'node:events';
import {
  checkHello,
  encodeMessage,
  MessageDecoder,
  PROTOCOL_VERSION,
  ServerMessage,
  type ErrorCode,
  type Event,
  type Method,
  type Request,
  type Stream,
} from '../protocol';
import type { Channel } from '../transport/types';

/** Opens a fresh `archloop attach --since <since>` process for this run. Implementations own reconnecting the transport. */
export type AttachOpener = (since: number, signal: AbortSignal) => Promise<Channel>;

export type RunClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed' | 'failed';

export interface RunClientLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface RunClientOptions {
  open: AttachOpener;
  /** The last seq this client has already seen (e.g. from the local mirror); replay starts after it. */
  since?: number;
  log?: RunClientLogger;
  /** Time allowed for a request's response. Default 30 s. */
  requestTimeoutMs?: number;
  /** Time allowed from opening the channel to the backend's hello. Default 60 s (a cold Python start on a busy host). */
  helloTimeoutMs?: number;
  /** Reconnect delays: first, cap. Default 500 ms, 15 s. */
  backoffMs?: { first: number; max: number };
  /** Software string sent in our hello. */
  software?: string;
}

/** A request failed: the backend said no (`code` from the protocol), or it never answered. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: ErrorCode | 'disconnected' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

type ParamsOf<M extends Method> = Extract<Request, { method: M }>['params'];

interface Pending {
  method: Method;
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface RunClientEvents {
  event: [Event];
  stream: [Stream];
  state: [RunClientState, string | undefined];
  log: [{ level: 'debug' | 'info' | 'warn' | 'error'; message: string; source?: string }];
}

export class RunClient {
  private readonly emitter = new EventEmitter<RunClientEvents>();
  private readonly pending = new Map<number, Pending>();
  private readonly log: RunClientLogger;
  private readonly requestTimeoutMs: number;
  private readonly helloTimeoutMs: number;
  private readonly backoff: { first: number; max: number };
  private readonly lifetime = new AbortController();
  private channel: Channel | undefined;
  /** Each channel's decoder, created at attach so that bytes after the hello in the same chunk are not lost. */
  private readonly decoders = new WeakMap<Channel, MessageDecoder<typeof ServerMessage>>();
  private nextId = 1;
  private attempt = 0;
  private _state: RunClientState = 'idle';
  private _lastSeq: number;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: RunClientOptions) {
    this._lastSeq = options.since ?? 0;
    this.log = options.log ?? { info: () => {}, warn: () => {}, error: () => {} };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.helloTimeoutMs = options.helloTimeoutMs ?? 60_000;
    this.backoff = options.backoffMs ?? { first: 500, max: 15_000 };
  }

  get state(): RunClientState {
    return this._state;
  }

  /** The highest seq delivered to listeners. */
  get lastSeq(): number {
    return this._lastSeq;
  }

  onEvent(listener: (event: Event) => void): () => void {
    return this.subscribe('event', listener);
  }

  onStream(listener: (stream: Stream) => void): () => void {
    return this.subscribe('stream', listener);
  }

  onState(listener: (state: RunClientState, detail: string | undefined) => void): () => void {
    return this.subscribe('state', listener);
  }

  onLog(listener: (entry: RunClientEvents['log'][0]) => void): () => void {
    return this.subscribe('log', listener);
  }

  /**
   * Attaches and keeps attached until close(). Resolves once the first attach succeeded (hello checked); rejects if
   * that first attempt fails, so a wrong host or a version mismatch is reported at once rather than retried forever.
   */
  async connect(): Promise<void> {
    if (this.loop) throw new Error('RunClient.connect() called twice');
    this.setState('connecting');
    const first = await this.attachOnce();
    this.loop = this.keepAttached(first);
  }

  /** Sends a request and waits for its response; rejects with RequestError. */
  request<M extends Method>(method: M, params: ParamsOf<M>, timeoutMs = this.requestTimeoutMs): Promise<unknown> {
    const channel = this.channel;
    if (this._state === 'closed' || this._state === 'failed') {
      return Promise.reject(new RequestError('closed', `cannot send ${method}: the connection to the run is ${this._state}`));
    }
    if (!channel || this._state !== 'connected') {
      return Promise.reject(new RequestError('disconnected', `cannot send ${method}: not connected to the run right now (${this._state}); try again in a moment`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError('timeout', `${method}: no answer from the backend within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      channel.stdin.write(encodeMessage({ type: 'request', id, method, params }));
    });
  }

  /** Detaches (the run itself goes on in its daemon). */
  async close(): Promise<void> {
    if (this._state === 'closed') return;
    this.setState('closed');
    this.lifetime.abort();
    this.failPending(new RequestError('closed', 'the connection to the run was closed'));
    this.channel?.stdin.end();
    this.channel?.kill('TERM');
    await this.loop?.catch(() => undefined);
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  private subscribe<K extends keyof RunClientEvents>(name: K, listener: (...args: RunClientEvents[K]) => void): () => void {
    this.emitter.on(name, listener as never);
    return () => this.emitter.off(name, listener as never);
  }

  private setState(state: RunClientState, detail?: string): void {
    if (this._state === state && detail === undefined) return;
    this._state = state;
    this.emitter.emit('state', state, detail);
  }

  private async keepAttached(first: Channel): Promise<void> {
    let channel: Channel | undefined = first;
    while (!this.lifetime.signal.aborted) {
      if (channel) {
        const why = await this.pump(channel);
        if (this.lifetime.signal.aborted) return;
        this.failPending(new RequestError('disconnected', `the link to the run dropped (${why}) before the backend answered; it may or may not have been applied`));
        this.setState('reconnecting', why);
        this.log.warn(`attach ended (${why}); re-attaching after seq ${this._lastSeq}`);
      }
      await this.sleep(this.nextDelay());
      if (this.lifetime.signal.aborted) return;
      try {
        channel = await this.attachOnce();
      } catch (error) {
        if (this._state === 'failed') return;
        channel = undefined;
        this.log.warn(`re-attach failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** Opens a channel, exchanges hellos, and leaves the channel ready for pump(). */
  private async attachOnce(): Promise<Channel> {
    const channel = await this.options.open(this._lastSeq, this.lifetime.signal);
    const decoder = new MessageDecoder(ServerMessage);
    const stderrTail: string[] = [];
    channel.stderr.on('data', (chunk: Buffer) => {
      stderrTail.push(chunk.toString('utf8'));
      if (stderrTail.length > 20) stderrTail.shift();
    });
    channel.stdin.on('error', () => undefined); // a write after the process died surfaces through `exit` instead
    channel.stdin.write(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, role: 'client', software: this.options.software ?? 'archloop-vscode' }));

    // Messages that arrived in the same chunk as the hello; dispatched once the hello is accepted.
    const early: ServerMessage[] = [];
    let hello: unknown;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`the backend sent no hello within ${this.helloTimeoutMs / 1000} s`)), this.helloTimeoutMs);
      const onData = (chunk: Buffer): void => {
        for (const decoded of decoder.push(chunk)) {
          if (hello !== undefined) {
            if (decoded.ok) early.push(decoded.message);
            continue;
          }
          if (!decoded.ok) {
            // Before the hello, anything else means this is not our backend speaking: say what it printed.
            finish(new Error(`the backend's first line is not a hello: ${decoded.rejection.detail}: ${decoded.rejection.preview}`));
            return;
          }
          hello = decoded.message;
        }
        if (hello !== undefined) finish();
      };
      const onEnd = (): void => finish(new Error(`attach exited before its hello${stderrTail.length ? `: ${stderrTail.join('').trim().slice(-800)}` : ''}`));
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        channel.stdout.pause(); // hold further bytes until pump() takes over the stream
        channel.stdout.off('data', onData);
        channel.stdout.off('end', onEnd);
        if (error) reject(error);
        else resolve();
      };
      channel.stdout.on('data', onData);
      channel.stdout.on('end', onEnd);
    }).catch((error: unknown) => {
      channel.kill('KILL');
      throw error;
    });

    const check = checkHello(hello, PROTOCOL_VERSION);
    if (!check.ok) {
      channel.kill('KILL');
      this.setState('failed', check.message);
      throw new Error(check.message);
    }
    // Anything the decoder buffered after the hello belongs to pump(): hand the decoder over.
    this.decoders.set(channel, decoder);
    this.channel = channel;
    this.attempt = 0;
    this.setState('connected');
    this.log.info(`attached to run ${check.hello.run ?? '?'} (${check.hello.software}) after seq ${this._lastSeq}`);
    for (const message of early) this.dispatch(message);
    return channel;
  }

  /** Reads messages until the channel ends; returns why it ended. */
  private pump(channel: Channel): Promise<string> {
    const decoder = this.decoders.get(channel) ?? new MessageDecoder(ServerMessage);
    return new Promise<string>((resolve) => {
      let done = false;
      const finish = (why: string): void => {
        if (done) return;
        done = true;
        if (this.channel === channel) this.channel = undefined;
        resolve(why);
      };
      channel.stdout.on('data', (chunk: Buffer) => {
        for (const decoded of decoder.push(chunk)) {
          if (decoded.ok) this.dispatch(decoded.message);
          else this.log.warn(`dropped a line from the backend (${decoded.rejection.reason}: ${decoded.rejection.detail}): ${decoded.rejection.preview}`);
        }
      });
      channel.stdout.on('end', () => {
        for (const decoded of decoder.end()) if (decoded.ok) this.dispatch(decoded.message);
      });
      channel.stdout.resume();
      channel.exit.then(
        (status) => finish(status.signal ? `attach killed by SIG${status.signal}` : `attach exited with code ${status.code}`),
        (error: unknown) => finish(error instanceof Error ? error.message : String(error)),
      );
    });
  }

  private dispatch(message: ServerMessage): void {
    switch (message.type) {
      case 'event':
        if (message.seq <= this._lastSeq) return; // replayed after a reconnect: already delivered
        if (message.seq !== this._lastSeq + 1) this.log.warn(`event seq jumped from ${this._lastSeq} to ${message.seq}`);
        this._lastSeq = message.seq;
        this.emitter.emit('event', message);
        return;
      case 'stream':
        this.emitter.emit('stream', message);
        return;
      case 'response': {
        const id = typeof message.id === 'number' ? message.id : Number.NaN;
        const pending = this.pending.get(id);
        if (!pending) {
          this.log.warn(`response to an unknown request id ${String(message.id)} dropped`);
          return;
        }
        this.pending.delete(id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.result);
        else pending.reject(new RequestError(message.error.code, `${pending.method}: ${message.error.message}`));
        return;
      }
      case 'log':
        this.emitter.emit('log', { level: message.level, message: message.message, ...(message.source ? { source: message.source } : {}) });
        return;
      case 'hello':
        this.log.warn('unexpected second hello from the backend ignored');
        return;
    }
  }

  private failPending(error: RequestError): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }

  private nextDelay(): number {
    const base = Math.min(this.backoff.max, this.backoff.first * 2 ** this.attempt);
    this.attempt += 1;
    return base * (0.8 + Math.random() * 0.4);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.lifetime.signal;
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
