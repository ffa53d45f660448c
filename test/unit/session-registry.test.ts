// SessionRegistry: hosts and attached runs as the tree, status bar and commands see them. Uses the real RunSession
// and LocalTransport, but never attaches (no backend process is started): only the registry's bookkeeping is tested.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectLocal } from '../../src/session/hostConnection';
import { RunSession } from '../../src/session/runSession';
import { SessionRegistry } from '../../src/session/sessionRegistry';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function session(registry: SessionRegistry, host: string, run: string): RunSession {
  const connection = registry.host(host);
  assert.ok(connection);
  return new RunSession({ host, run, runDir: `/tmp/${run}`, backend: connection.backend, log: quiet });
}

describe('SessionRegistry', () => {
  it('lists hosts with their runs, focuses the last attached run, and forgets a removed host', async () => {
    const registry = new SessionRegistry();
    let changes = 0;
    registry.onDidChange(() => changes++);
    const local = connectLocal({ python: 'python3', runRoot: '~/runs' });
    assert.ok(!local.backend.runRoot.startsWith('~'), 'the run root is expanded to an absolute path');
    registry.addHost(local);
    assert.deepEqual(registry.hostViews(), [{ name: 'Local', connection: 'local', runs: [] }]);
    assert.equal(registry.focused(), undefined);

    const first = session(registry, 'Local', 'run-a');
    const second = session(registry, 'Local', 'run-b');
    registry.addSession(first);
    registry.addSession(second);
    assert.equal(registry.focused(), second);
    registry.setFocus('Local', 'run-a');
    assert.equal(registry.focused(), first);
    registry.setFocus('Local', 'no-such-run');
    assert.equal(registry.focused(), first, 'focusing an unknown run changes nothing');
    assert.deepEqual(registry.hostViews()[0]?.runs.map((view) => view.run), ['run-a', 'run-b']);
    assert.ok(changes >= 4);

    await registry.removeHost('Local');
    assert.deepEqual(registry.hostViews(), []);
    assert.equal(registry.focused(), undefined);
    assert.equal(first.client.state, 'closed', 'removing a host closes its sessions');
  });

  it('refuses a session for a host that is not connected', () => {
    const registry = new SessionRegistry();
    registry.addHost(connectLocal({ python: 'python3', runRoot: '/tmp/runs' }));
    const orphan = session(registry, 'Local', 'run-x');
    const other = new SessionRegistry();
    assert.throws(() => other.addSession(orphan), /not connected to Local/);
  });
});
