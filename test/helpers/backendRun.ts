// A small real run for the session tests: the project's venv Python, a tiny random causal LM built from a config (no
// hub download is possible here), synthetic CIFAR-shaped data. Everything else is the real backend.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const PYTHON = resolve('remote-python/.venv/bin/python');

/** Builds the tiny model once per directory (a few seconds) and writes a run config that uses it. */
export function prepareTinyRun(dir: string, options: { cycles?: number; candidates?: number } = {}): { configPath: string; configToml: string } {
  const model = join(dir, 'model');
  if (!existsSync(join(model, 'config.json'))) {
    mkdirSync(model, { recursive: true });
    execFileSync(PYTHON, [
      '-c',
      [
        'import sys; from pathlib import Path',
        'from archloop.llm.demo_model import save_untrained_model, tiny_config, default_corpus',
        'save_untrained_model(Path(sys.argv[1]), default_corpus()[:2], tiny_config())',
      ].join('\n'),
      model,
    ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_VERBOSITY: 'error' } });
  }
  const candidates = options.candidates ?? 3;
  const configToml = [
    '[run]',
    'name = "session-test"',
    `cycles = ${options.cycles ?? 2}`,
    `candidates_per_cycle = ${candidates}`,
    `cache_dir = ${JSON.stringify(join(dir, 'cache'))}`,
    '[model]',
    `id = ${JSON.stringify(model)}`,
    'quantization = "none"',
    'device = "cpu"',
    '[generation]',
    'max_new_tokens = 24',
    `batch_size = ${candidates}`,
    'max_retries = 0',
    '[evaluation]',
    'protocol = "fast"',
    'data = "synthetic"',
    'synthetic_train = 128',
    'synthetic_test = 64',
    'workers = 1',
    '[sft]',
    'max_steps = 2',
    '',
  ].join('\n');
  const configPath = join(dir, 'run.toml');
  writeFileSync(configPath, configToml);
  return { configPath, configToml };
}
