// deployBackend: the real backend (remote-python/) uploaded and checked with `archloop doctor --json`, over a real
// sshd and over LocalTransport. The project's venv stands in for the host's Python (`python` option) so torch is
// not installed again; a fresh venv would take minutes here.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeKey, startSshd, type Sshd } from '../helpers/sshd.js';
import { SshTransport } from '../../src/transport/sshTransport.js';
import { LocalTransport } from '../../src/transport/localTransport.js';
import { DeployError, deployBackend, type DeployProgress } from '../../src/session/deploy.js';
import { collectBackendBundle } from '../../src/session/backendBundle.js';
import { connectSsh } from '../../src/session/hostConnection.js';
import { listRuns, startRun } from '../../src/session/backendCommands.js';

const SOURCE = resolve('remote-python');
const PYTHON = resolve('remote-python/.venv/bin/python');

let sshd: Sshd;
let work = '';
let transport: SshTransport;

describe('deployBackend', () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'archloop-deploy-'));
    sshd = await startSshd();
    const home = join(work, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    sshd.authorize(makeKey(join(home, '.ssh'), 'id_ed25519').publicLine);
    writeFileSync(join(home, '.ssh', 'known_hosts'), `${sshd.knownHostsLine()}\n`);
    transport = await SshTransport.open(`${sshd.user}@127.0.0.1:${sshd.port}`, { homeDir: home, env: {} });
  });
  after(async () => {
    await transport?.close();
    await sshd?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('bundles pyproject.toml and archloop/** without caches, with a content hash', async () => {
    const bundle = await collectBackendBundle(SOURCE);
    const paths = bundle.files.map((file) => file.path);
    assert.ok(paths.includes('pyproject.toml') && paths.includes('archloop/cli.py') && paths.includes('archloop/doctor.py'));
    assert.ok(!paths.some((path) => /__pycache__|\.pyc$|\.venv|egg-info|^tests\//.test(path)), paths.join(' '));
    assert.match(bundle.hash, /^[0-9a-f]{16}$/);
    assert.equal((await collectBackendBundle(SOURCE)).hash, bundle.hash, 'stable');
  });

  it('uploads over SSH, runs doctor, and skips the upload the second time', async () => {
    const root = join(work, 'remote-root');
    const events: DeployProgress[] = [];
    const first = await deployBackend(transport, { sourceDir: SOURCE, root, python: PYTHON, onProgress: (event) => events.push(event) });
    assert.equal(first.uploaded, true);
    assert.equal(first.dir, join(root, first.hash));
    assert.equal(readFileSync(join(first.dir, '.archloop-uploaded'), 'utf8').trim(), first.hash);
    assert.ok(existsSync(join(first.dir, 'archloop', 'doctor.py')));
    assert.ok(!existsSync(join(first.dir, 'archloop', '__pycache__', 'x')));
    assert.equal(first.doctor?.python_executable.startsWith(resolve('remote-python/.venv')), true, first.doctor?.python_executable);
    assert.equal(typeof first.doctor?.archloop, 'string');
    assert.ok(first.doctor?.packages.some((pkg) => pkg.name === 'torch' && pkg.ok), 'doctor found torch');
    assert.deepEqual([...new Set(events.map((event) => event.step))], ['bundle', 'upload', 'install', 'doctor']);
    assert.equal(events.filter((event) => event.step === 'upload').at(-1)?.fraction, 1);

    // The uploaded copy, not the editable checkout, is what runs.
    const where = await transport.run([first.python, '-c', 'import archloop; print(archloop.__file__)'], { env: first.env });
    assert.equal(where.stdout.trim(), join(first.dir, 'archloop', '__init__.py'));

    const second = await deployBackend(transport, { sourceDir: SOURCE, root, python: PYTHON, runDoctor: false });
    assert.equal(second.uploaded, false);
    assert.equal(second.hash, first.hash);
    assert.equal(second.doctor, null);
  });

  it('redoes an interrupted upload (marker missing) and deploys over LocalTransport too', async () => {
    const local = new LocalTransport({ homeDir: join(work, 'local-home') });
    mkdirSync(join(work, 'local-home'), { recursive: true });
    try {
      const result = await deployBackend(local, { sourceDir: SOURCE, python: PYTHON, runDoctor: false });
      assert.equal(result.dir, join(work, 'local-home', '.archloop', 'backend', result.hash));
      assert.equal(result.uploaded, true);
      rmSync(join(result.dir, '.archloop-uploaded'));
      rmSync(join(result.dir, 'archloop', 'cli.py'));
      const again = await deployBackend(local, { sourceDir: SOURCE, python: PYTHON, runDoctor: false });
      assert.equal(again.uploaded, true);
      assert.ok(existsSync(join(result.dir, 'archloop', 'cli.py')));
    } finally {
      await local.close();
    }
  });

  it('reuses an installed venv of the same version instead of creating it again', async () => {
    const local = new LocalTransport({ homeDir: join(work, 'venv-home') });
    const root = join(work, 'venv-root');
    try {
      const { hash } = await collectBackendBundle(SOURCE);
      const dir = join(root, hash);
      // What an earlier deploy left: the venv (here the project's, linked) and the install marker with the hash.
      mkdirSync(join(dir, 'venv', 'bin'), { recursive: true });
      symlinkSync(PYTHON, join(dir, 'venv', 'bin', 'python'));
      writeFileSync(join(dir, '.archloop-installed'), `${hash}\n`);
      const steps: string[] = [];
      const result = await deployBackend(local, { sourceDir: SOURCE, root, basePython: 'archloop-no-python3', runDoctor: false, onProgress: (event) => steps.push(event.step) });
      assert.equal(result.installed, false);
      assert.equal(result.python, join(dir, 'venv', 'bin', 'python'));
      assert.deepEqual(result.command, [join(dir, 'venv', 'bin', 'python'), '-m', 'archloop']);
      assert.ok(!steps.includes('venv'), 'no venv step');
    } finally {
      await local.close();
    }
  });

  it('fails with a classified DeployError: missing python, bad sources, cancellation', async () => {
    const local = new LocalTransport({ homeDir: join(work, 'local-home') });
    const isDeploy = (code: DeployError['code'], step: DeployError['step']) => (error: unknown) => {
      assert.ok(error instanceof DeployError, String(error));
      assert.deepEqual([error.code, error.step], [code, step], error.message);
      return true;
    };
    await assert.rejects(deployBackend(local, { sourceDir: SOURCE, basePython: 'archloop-no-python3' }), isDeploy('python_missing', 'venv'));
    await assert.rejects(deployBackend(local, { sourceDir: SOURCE, basePython: '/bin/false' }), isDeploy('venv_failed', 'venv'));
    await assert.rejects(deployBackend(local, { sourceDir: SOURCE, python: join(work, 'no-python') }), isDeploy('python_missing', 'doctor'));
    await assert.rejects(deployBackend(local, { sourceDir: join(work, 'nowhere') }), isDeploy('sources', 'bundle'));
    const controller = new AbortController();
    const pending = deployBackend(transport, {
      sourceDir: SOURCE,
      root: join(work, 'cancelled-root'),
      python: PYTHON,
      signal: controller.signal,
      onProgress: (event) => event.step === 'upload' && controller.abort(),
    });
    await assert.rejects(pending, isDeploy('cancelled', 'upload'));
    assert.ok(!existsSync(join(work, 'cancelled-root', (await collectBackendBundle(SOURCE)).hash, '.archloop-uploaded')), 'no marker after a cancelled upload');
  });

  it('with a named python, every backend command runs the uploaded package (PYTHONPATH), not only doctor', async () => {
    // The venv's base interpreter: a Python without archloop installed, like a user's conda env.
    const bare = execFileSync(PYTHON, ['-c', 'import sys; print(sys._base_executable)'], { cwd: tmpdir() }).toString().trim();
    assert.throws(() => execFileSync(bare, ['-c', 'import archloop'], { cwd: tmpdir(), stdio: 'pipe' }), 'the bare interpreter must not see archloop');
    const home = join(work, 'home');
    const runRoot = join(work, 'named-python-runs');
    const connection = await connectSsh({
      target: `${sshd.user}@127.0.0.1:${sshd.port}`,
      ssh: { homeDir: home, env: {} },
      deploy: { sourceDir: SOURCE, root: join(work, 'named-python-root'), python: bare, runDoctor: false },
      runRoot,
    });
    try {
      assert.equal(connection.backend.python, bare);
      assert.match(connection.backend.env?.['PYTHONPATH'] ?? '', /named-python-root/);
      assert.deepEqual(await listRuns(connection.backend), []);
      // A config that fails validation still proves `archloop start` ran from the upload: its error names the key.
      await assert.rejects(startRun(connection.backend, { configToml: 'preset = "demo"\nno_such_key = 1\n' }), /no_such_key/);
    } finally {
      await connection.close();
    }
  });
});
