/**
 * Runs a Channel to completion: feeds stdin, collects capped stdout/stderr, reports complete lines as they arrive.
 * Shared by both transports so `run()` means the same thing over SSH and locally.
 */

import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import type { Channel, RunOptions, RunResult } from './types.js';

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

class CappedCollector {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;
  private readonly decoder = new StringDecoder('utf8');
  private partialLine = '';

  constructor(
    private readonly max: number,
    private readonly onLine?: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    const room = this.max - this.kept;
    if (chunk.length > room) this.truncated = true;
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.chunks.push(part);
      this.kept += part.length;
    }
    if (this.onLine) {
      const lines = (this.partialLine + this.decoder.write(chunk)).split('\n');
      this.partialLine = lines.pop() ?? '';
      for (const line of lines) this.onLine(line.replace(/\r$/, ''));
    }
  }

  finish(): string {
    if (this.onLine) {
      const rest = this.partialLine + this.decoder.end();
      if (rest !== '') this.onLine(rest);
    }
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function drain(stream: Readable, collector: CappedCollector): Promise<void> {
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer | string) => collector.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

/** Waits for the channel to end and returns its output. Rejects as `channel.exit` does (disconnected, cancelled). */
export async function collectRun(channel: Channel, options: RunOptions): Promise<RunResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const stdout = new CappedCollector(max, options.onStdoutLine);
  const stderr = new CappedCollector(max, options.onStderrLine);
  const drained = Promise.all([drain(channel.stdout, stdout), drain(channel.stderr, stderr)]);
  channel.stdin.on('error', () => undefined); // the process may exit without reading its stdin (EPIPE)
  if (options.stdin !== undefined) channel.stdin.end(options.stdin);
  else channel.stdin.end();
  const status = await channel.exit;
  await drained;
  return { ...status, stdout: stdout.finish(), stderr: stderr.finish(), truncated: stdout.truncated || stderr.truncated };
}
