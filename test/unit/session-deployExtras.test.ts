// Deploy installs what the chosen preset needs: the preset's doctor report names its extras (`gpu` for 4-bit/8-bit
// loading or an 8-bit optimizer) and deploy installs `<dir>[gpu]` once, as one argv element, saying so in progress.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployBackend, extrasToInstall, formatInstalledMarker, parseInstalledMarker, pipTarget, type DeployProgress } from '../../src/session/deploy.js';
import type { FileStat, RunResult, Transport } from '../../src/transport/types.js';

// A small backend source of its own: its hash stays put while the real remote-python/ is being edited.
const SOURCE = mkdtempSync(join(tmpdir(), 'archloop-deploy-extras-'));
mkdirSync(join(SOURCE, 'archloop'));
writeFileSync(join(SOURCE, 'pyproject.toml'), '[project]\nname = "archloop"\n');
writeFileSync(join(SOURCE, 'archloop', '__init__.py'), '');

/** What `archloop doctor --json [--preset P]` answers on this fake host: the backend's own decision per preset. */
const PRESET_EXTRAS: Record<string, string[]> = { paper: ['gpu'], 'gpu-small': [], demo: [] };

function doctorJson(preset: string | undefined): string {
  return JSON.stringify({
    archloop: '0.1.0', protocol: 1, python: '3.11.0', python_executable: '/x/python', cuda_available: true, ok: true,
    problems: [], gpus: [], packages: [], optional: [], preset: preset ?? null, extras: preset ? PRESET_EXTRAS[preset] : [],
  });
}

/** An in-memory host: files in a map, commands recorded and answered like a host with python3 and a package index. */
class FakeHost implements Transport {
  readonly kind = 'ssh' as const;
  readonly description = 'fake-host';
  readonly files = new Map<string, Buffer>();
  readonly commands: string[][] = [];

  async run(argv: readonly string[]): Promise<RunResult> {
    this.commands.push([...argv]);
    if (argv[1] === '-m' && argv[2] === 'venv') this.files.set(join(argv[argv.length - 1] as string, 'bin', 'python'), Buffer.from(''));
    if (argv.includes('doctor')) {
      const at = argv.indexOf('--preset');
      return { code: 0, signal: null, stdout: doctorJson(at >= 0 ? argv[at + 1] : undefined), stderr: '', truncated: false };
    }
    return { code: 0, signal: null, stdout: '', stderr: '', truncated: false };
  }
  exec(): never {
    throw new Error('not used by deploy');
  }
  async homeDir(): Promise<string> {
    return '/home/u';
  }
  async writeFile(path: string, data: string | Buffer): Promise<void> {
    this.files.set(path, Buffer.from(data));
  }
  async readFile(path: string): Promise<Buffer> {
    const data = this.files.get(path);
    if (!data) throw new Error(`no ${path}`);
    return data;
  }
  async mkdirp(): Promise<void> {}
  async stat(path: string): Promise<FileStat | null> {
    return this.files.has(path) ? { isFile: true, isDirectory: false, size: 0, mode: 0o644 } : null;
  }
  onDisconnect(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}

  pipInstalls(): string[] {
    return this.commands.filter((argv) => argv.includes('pip')).map((argv) => argv[argv.length - 1] as string);
  }
}

describe('deploy: the extras a preset needs', () => {
  it('installs nothing more than doctor names and nothing twice', () => {
    assert.deepEqual(extrasToInstall({ extras: ['gpu'] }, []), ['gpu']);
    assert.deepEqual(extrasToInstall({ extras: ['gpu'] }, ['gpu']), []);
    assert.deepEqual(extrasToInstall({ extras: [] }, []), []);
    assert.deepEqual(extrasToInstall({}, []), [], 'an older backend names no extras');
    assert.deepEqual(extrasToInstall(null, []), []);
    assert.deepEqual(extrasToInstall({ extras: ['gpu]; rm -rf ~', 'gpu'] }, []), ['gpu'], 'only plain extra names');
  });

  it('names the extras inside one pip requirement and remembers them in the installed marker', () => {
    assert.equal(pipTarget('/h/b/abc', []), '/h/b/abc');
    assert.equal(pipTarget('/h/b/abc', ['ray', 'gpu']), '/h/b/abc[gpu,ray]');
    assert.deepEqual(parseInstalledMarker(formatInstalledMarker('abc', ['gpu']).trim()), { hash: 'abc', extras: ['gpu'] });
    assert.deepEqual(parseInstalledMarker('abc'), { hash: 'abc', extras: [] }, 'a marker from before extras');
    assert.equal(parseInstalledMarker(null), null);
  });

  it('paper installs the gpu extra and says so; a second start reuses it; gpu-small and demo install none', async () => {
    const host = new FakeHost();
    const messages: string[] = [];
    const onProgress = (p: DeployProgress): void => void (p.line ? undefined : messages.push(p.message));
    const first = await deployBackend(host, { sourceDir: SOURCE, onProgress });
    assert.equal(host.pipInstalls().length, 1);
    assert.doesNotMatch(host.pipInstalls()[0] as string, /\[/, 'connecting with no preset installs the plain backend');

    for (const preset of ['demo', 'gpu-small']) {
      await deployBackend(host, { sourceDir: SOURCE, preset, onProgress });
      assert.equal(host.pipInstalls().length, 1, `${preset} needs no extra`);
    }

    const paper = await deployBackend(host, { sourceDir: SOURCE, preset: 'paper', onProgress });
    assert.deepEqual(host.pipInstalls().slice(1), [`${first.dir}[gpu]`]);
    assert.ok(messages.some((m) => m.startsWith('The paper preset needs the gpu extra (bitsandbytes') && m.endsWith(`pip install ${first.dir}[gpu]`)), messages.join('\n'));
    assert.equal(paper.installed, true);
    assert.deepEqual(paper.doctor?.extras, ['gpu']);

    const again = await deployBackend(host, { sourceDir: SOURCE, preset: 'paper', onProgress });
    assert.equal(host.pipInstalls().length, 2, 'the gpu extra is installed once');
    assert.equal(again.installed, false);
  });

  it('leaves a given interpreter as it is: doctor names the need, nothing is installed', async () => {
    const host = new FakeHost();
    const deployed = await deployBackend(host, { sourceDir: SOURCE, python: '/opt/conda/bin/python', preset: 'paper' });
    assert.deepEqual(host.pipInstalls(), []);
    assert.deepEqual(deployed.doctor?.extras, ['gpu']);
  });
});
