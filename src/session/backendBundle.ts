/**
 * The files of the Python backend that go to a host: pyproject.toml and archloop/** from remote-python/, without
 * virtualenvs, caches, build metadata or tests. Their content hash names the remote folder, so an unchanged
 * backend is never uploaded twice and two versions never mix.
 */

import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface BundleFile {
  /** POSIX path relative to the bundle root, e.g. `archloop/cli.py`. */
  path: string;
  data: Buffer;
}

export interface BackendBundle {
  files: BundleFile[];
  /** 16 hex digits of sha256 over every path and content, in sorted order. */
  hash: string;
  totalBytes: number;
}

const SKIPPED_DIRECTORIES = new Set(['__pycache__', '.venv', 'venv', '.pytest_cache', '.ruff_cache', '.mypy_cache', '.hypothesis', 'node_modules', '.git']);
const SKIPPED_SUFFIXES = ['.pyc', '.pyo', '.egg-info', '.so.tmp', '~'];

async function walk(root: string, dir: string, out: BundleFile[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (SKIPPED_DIRECTORIES.has(entry.name) || SKIPPED_SUFFIXES.some((suffix) => entry.name.endsWith(suffix))) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await walk(root, full, out);
    else if (entry.isFile()) out.push({ path: relative(root, full).split(sep).join('/'), data: await readFile(full) });
  }
}

/** Reads the bundle from `sourceDir` (the local remote-python/). Throws an Error naming the missing part. */
export async function collectBackendBundle(sourceDir: string): Promise<BackendBundle> {
  const files: BundleFile[] = [];
  try {
    files.push({ path: 'pyproject.toml', data: await readFile(join(sourceDir, 'pyproject.toml')) });
    await walk(sourceDir, join(sourceDir, 'archloop'), files);
  } catch (error) {
    throw new Error(`The backend sources in ${sourceDir} are incomplete (${String(error)}): expected pyproject.toml and archloop/.`, { cause: error });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.path}\0${file.data.length}\0`).update(file.data);
  return { files, hash: hash.digest('hex').slice(0, 16), totalBytes: files.reduce((sum, file) => sum + file.data.length, 0) };
}
