/**
 * SshTransport against OpenSSH's own client on the same private sshd (test/helpers/sshd.ts): connect + exec, exec on
 * an open connection (baseline: ssh through a ControlMaster socket), uploading the backend bundle (~40 small files)
 * and one 32 MiB file (baseline: scp). Median of --rounds wall-clock runs each.
 * Run: npx tsx bench/ssh-transport.ts [--rounds 5]
 * Every exec pays the remote login shell's startup (`bash -c` reads ~/.bashrc when started by sshd), both sides alike.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeKey, startSshd } from '../test/helpers/sshd';
import { SshTransport } from '../src/transport/sshTransport';
import { collectBackendBundle } from '../src/session/backendBundle';

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

async function median(rounds: number, run: () => Promise<void> | void): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const rounds = argument('--rounds', 5);
  const work = mkdtempSync(join(os.tmpdir(), 'archloop-bench-ssh-'));
  const sshd = await startSshd();
  try {
    const home = join(work, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    const key = makeKey(join(home, '.ssh'), 'id_ed25519');
    sshd.authorize(key.publicLine);
    const knownHosts = join(home, '.ssh', 'known_hosts');
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
    const target = `${sshd.user}@127.0.0.1:${sshd.port}`;
    const open = () => SshTransport.open(target, { homeDir: home, env: {} });
    const sshArgs = ['-F', '/dev/null', '-i', key.privatePath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-p', String(sshd.port)];
    const rows: [string, number, number][] = [];

    rows.push([
      'connect + exec `true` + close',
      await median(rounds, () => void execFileSync('ssh', [...sshArgs, `${sshd.user}@127.0.0.1`, 'true'])),
      await median(rounds, async () => {
        const transport = await open();
        await transport.run(['true']);
        await transport.close();
      }),
    ]);

    const control = join(work, 'cm');
    execFileSync('ssh', [...sshArgs, '-o', 'ControlMaster=yes', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=120', '-fN', `${sshd.user}@127.0.0.1`]);
    const transport = await open();
    try {
      rows.push([
        'exec `true` on an open connection',
        await median(rounds, () => void execFileSync('ssh', [...sshArgs, '-o', `ControlPath=${control}`, `${sshd.user}@127.0.0.1`, 'true'])),
        await median(rounds, async () => void (await transport.run(['true']))),
      ]);

      const bundle = await collectBackendBundle(resolve('remote-python'));
      const source = join(work, 'bundle');
      for (const file of bundle.files) {
        mkdirSync(join(source, file.path, '..'), { recursive: true });
        writeFileSync(join(source, file.path), file.data);
      }
      let round = 0;
      rows.push([
        `upload backend bundle (${bundle.files.length} files, ${Math.round(bundle.totalBytes / 1024)} KiB)`,
        await median(rounds, () => void execFileSync('scp', ['-q', '-r', '-o', `ControlPath=${control}`, ...sshArgs.map((arg) => (arg === '-p' ? '-P' : arg)), source, `${sshd.user}@127.0.0.1:${join(work, `scp-${round++}`)}`])),
        await median(rounds, async () => {
          const dir = join(work, `sftp-${round++}`);
          const dirs = new Set(bundle.files.map((file) => join(dir, file.path, '..')));
          for (const path of [...dirs].sort()) await transport.mkdirp(path);
          const queue = [...bundle.files];
          await Promise.all(Array.from({ length: 8 }, async () => {
            for (let file = queue.shift(); file; file = queue.shift()) await transport.writeFile(join(dir, file.path), file.data);
          }));
        }),
      ]);

      const big = join(work, 'big.bin');
      writeFileSync(big, randomBytes(32 * 1024 * 1024));
      const bigData = randomBytes(32 * 1024 * 1024);
      rows.push([
        'upload one 32 MiB file',
        await median(rounds, () => void execFileSync('scp', ['-q', '-o', `ControlPath=${control}`, ...sshArgs.map((arg) => (arg === '-p' ? '-P' : arg)), big, `${sshd.user}@127.0.0.1:${join(work, 'big-scp.bin')}`])),
        await median(rounds, () => transport.writeFile(join(work, 'big-sftp.bin'), bigData)),
      ]);
    } finally {
      await transport.close();
      execFileSync('ssh', [...sshArgs, '-o', `ControlPath=${control}`, '-O', 'exit', `${sshd.user}@127.0.0.1`], { stdio: 'ignore' });
    }

    console.log(`SshTransport vs OpenSSH client, ${os.cpus().length}-core ${os.arch()} (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg()[0]?.toFixed(1)}, median of ${rounds}`);
    console.log(`${'case'.padEnd(48)} ${'OpenSSH ms'.padStart(11)} ${'ArchLoop ms'.padStart(12)} ${'ratio'.padStart(7)}`);
    for (const [name, baseline, ours] of rows) {
      console.log(`${name.padEnd(48)} ${baseline.toFixed(0).padStart(11)} ${ours.toFixed(0).padStart(12)} ${(ours / baseline).toFixed(2).padStart(7)}`);
    }
  } finally {
    await sshd.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
