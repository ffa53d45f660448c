// Runs the TypeScript tests under Node's own test runner (its closing "# pass / # fail" lines are what CI reads).
// Usage: node scripts/run-node-tests.mjs [dir-or-file ...]   (default: test/unit test/integration test/webview test/e2e)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (/\.test\.(ts|mts)$/.test(path)) {
    out.push(path);
  }
  return out;
}

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test/unit', 'test/integration', 'test/webview', 'test/e2e'];
const files = roots.flatMap((root) => {
  try { return collect(root, []); } catch { return []; }
});
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '));
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
