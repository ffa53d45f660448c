// @ts-check
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ROOT = dirname(fileURLToPath(import.meta.url));

/** A path relative to the repository root, '/'-separated; outside the repository it stays absolute. */
function repoPath(absolute) {
  const rel = relative(ROOT, absolute);
  return rel.startsWith('..') || isAbsolute(rel) ? absolute : rel.split(sep).join('/');
}

const inside = (path, folder) => path === folder || path.startsWith(`${folder}/`);

/**
 * The layout's import boundaries, decided by where the importing file and the imported module ARE (both resolved
 * to paths under the repository root), not by how many `../` an import spells: a glob over relative specifiers
 * misses a file one folder deeper.
 *   - `vscode` only in src/ui/ and src/extension.ts (everything else runs under plain Node);
 *   - a webview file imports, from the rest of the repository, only src/protocol/.
 */
const boundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Keeps vscode to src/ui/ + src/extension.ts and the webview to src/protocol/, by path.' },
    schema: [],
    messages: {
      vscode: 'Only src/ui/ and src/extension.ts may import vscode (the rest runs under plain Node); move this code to src/ui/.',
      webview: "The webview may import only src/protocol/ from outside webview/, not '{{target}}'; move what it needs to src/protocol/.",
    },
  },
  create(context) {
    const file = repoPath(context.filename);
    const mayUseVscode = inside(file, 'src/ui') || file === 'src/extension.ts';
    const inWebview = inside(file, 'webview');
    const check = (node, specifier) => {
      if (typeof specifier !== 'string') return;
      if (specifier === 'vscode' && !mayUseVscode) {
        context.report({ node, messageId: 'vscode' });
        return;
      }
      if (!inWebview || !(specifier.startsWith('.') || isAbsolute(specifier))) return;
      const target = repoPath(resolve(dirname(context.filename), specifier));
      if (!inside(target, 'webview') && !inside(target, 'src/protocol')) context.report({ node, messageId: 'webview', data: { target } });
    };
    const literal = (node) => (node && node.type === 'Literal' ? node.value : undefined);
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ImportExpression: (node) => check(node, literal(node.source)),
      TSExternalModuleReference: (node) => check(node, literal(node.expression)),
      TSImportType: (node) => check(node, literal(node.argument?.literal ?? node.argument)),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require') check(node, literal(node.arguments[0]));
      },
    };
  },
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'remote-python/', '.cache/', 'artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    plugins: { archloop: { rules: { boundaries } } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'archloop/boundaries': 'error',
    },
  },
  {
    files: ['scripts/**/*.mjs', 'test/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
