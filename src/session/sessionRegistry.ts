/**
 * The hosts the user is connected to and the runs attached on each: the one place the tree, the status bar, the
 * candidate tabs and the commands read from. Plain Node; one instance per extension activation (no module state).
 * Which run is "in focus" (status bar, dashboard, palette commands without an argument): the last one attached or
 * chosen. Listener errors are caught by RunSession; registry listeners must not throw.
 */
import type { HostConnection } from './hostConnection';
import type { RunSession } from './runSession';
import type { RunClientState } from './runClient';
import type { ConnectionState, HostView } from './views/treeModel';

interface HostEntry {
  connection: HostConnection;
  sessions: Map<string, RunSession>;
  state: ConnectionState;
}

export class SessionRegistry {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly listeners = new Set<() => void>();
  private focus: { host: string; run: string } | undefined;

  onDidChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(): void {
    for (const listener of this.listeners) listener();
  }

  addHost(connection: HostConnection): void {
    this.hosts.set(connection.name, { connection, sessions: new Map(), state: connection.kind === 'local' ? 'local' : 'connected' });
    this.changed();
  }

  host(name: string): HostConnection | undefined {
    return this.hosts.get(name)?.connection;
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  /** Removes a host and closes its sessions and connection. */
  async removeHost(name: string): Promise<void> {
    const entry = this.hosts.get(name);
    if (!entry) return;
    this.hosts.delete(name);
    if (this.focus?.host === name) this.focus = undefined;
    this.changed();
    await Promise.allSettled([...entry.sessions.values()].map((session) => session.close()));
    await entry.connection.close().catch(() => undefined);
  }

  addSession(session: RunSession): void {
    const entry = this.hosts.get(session.host);
    if (!entry) throw new Error(`not connected to ${session.host}`);
    entry.sessions.set(session.run, session);
    this.focus = { host: session.host, run: session.run };
    session.subscribe({
      onView: () => this.changed(),
      onState: (state) => this.sessionState(session.host, state),
    });
    this.changed();
  }

  session(host: string, run: string): RunSession | undefined {
    return this.hosts.get(host)?.sessions.get(run);
  }

  sessions(): RunSession[] {
    return [...this.hosts.values()].flatMap((entry) => [...entry.sessions.values()]);
  }

  setFocus(host: string, run: string): void {
    if (this.session(host, run)) {
      this.focus = { host, run };
      this.changed();
    }
  }

  /** The run in focus, or the only/last attached one. */
  focused(): RunSession | undefined {
    if (this.focus) {
      const session = this.session(this.focus.host, this.focus.run);
      if (session) return session;
    }
    return this.sessions().at(-1);
  }

  hostViews(): HostView[] {
    return [...this.hosts.values()].map((entry) => ({
      name: entry.connection.name,
      connection: entry.state,
      runs: [...entry.sessions.values()].map((session) => session.view),
    }));
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.hostNames().map((name) => this.removeHost(name)));
  }

  private sessionState(host: string, state: RunClientState): void {
    const entry = this.hosts.get(host);
    if (!entry || entry.connection.kind === 'local') return;
    const next: ConnectionState = state === 'connected' ? 'connected' : state === 'connecting' || state === 'reconnecting' ? 'connecting' : 'disconnected';
    if (entry.state !== next) {
      entry.state = next;
      this.changed();
    }
  }
}
