/**
 * The import boundaries in eslint.config.mjs, checked through ESLint's own API on small in-memory files placed at
 * chosen paths: what decides is where a file and its import are, however many `../` the import spells.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = join(__dirname, '..', '..');
const eslint = new ESLint({ cwd: ROOT });

/** The boundary messages ESLint reports for `code` as if it lived at `path` (relative to the repository root). */
async function boundaryErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  assert.ok(result, `ESLint returned no result for ${path}`);
  assert.deepEqual(result.messages.filter((m) => m.fatal), [], `${path} did not parse`);
  return result.messages.filter((m) => m.ruleId === 'archloop/boundaries').map((m) => m.message);
}

const use = (specifier: string): string => `import { thing } from '${specifier}';\nexport const used = thing;\n`;

test('a webview file at any depth may not import src/session', async () => {
  for (const [path, specifier] of [
    ['webview/src/probe.ts', '../../src/session/registry'],
    ['webview/src/views/probe.ts', '../../../src/session/registry'],
    ['webview/src/views/deeper/probe.ts', '../../../../src/session/registry'],
    ['webview/src/views/probe.ts', '../../../src/protocol/../session/registry'],
  ] as const) {
    const errors = await boundaryErrors(path, use(specifier));
    assert.equal(errors.length, 1, `${path} importing ${specifier}: ${JSON.stringify(errors)}`);
    assert.match(errors[0] as string, /only src\/protocol\/.*'src\/session\/registry'/);
  }
});

test('the same files may import src/protocol and their own webview modules', async () => {
  for (const [path, specifier] of [
    ['webview/src/probe.ts', '../../src/protocol/messages'],
    ['webview/src/views/probe.ts', '../../../src/protocol/dashboard'],
    ['webview/src/views/deeper/probe.ts', '../../../../src/protocol/dashboardState'],
    ['webview/src/views/probe.ts', '../format'],
    ['webview/src/views/probe.ts', 'zod'],
  ] as const) {
    assert.deepEqual(await boundaryErrors(path, use(specifier)), [], `${path} importing ${specifier}`);
  }
});

test('vscode is refused outside src/ui/ and src/extension.ts, in every import form', async () => {
  const forms = [
    use('vscode'),
    "export * from 'vscode';\n",
    "export const later = import('vscode');\n",
    "export type Uri = import('vscode').Uri;\n",
  ];
  for (const code of forms) {
    const errors = await boundaryErrors('src/session/probe.ts', code);
    assert.equal(errors.length, 1, `${code}: ${JSON.stringify(errors)}`);
    assert.match(errors[0] as string, /Only src\/ui\/ and src\/extension\.ts may import vscode/);
  }
  assert.equal((await boundaryErrors('webview/src/views/probe.ts', use('vscode'))).length, 1);
  assert.deepEqual(await boundaryErrors('src/ui/probe.ts', use('vscode')), []);
  assert.deepEqual(await boundaryErrors('src/extension.ts', use('vscode')), []);
});
