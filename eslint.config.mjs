// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const vscodeImport = {
  paths: [{ name: 'vscode', message: 'Only src/ui/ and src/extension.ts may import vscode (DESIGN.md: the rest runs under plain Node).' }],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', 'remote-python/', '.cache/', 'artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', vscodeImport],
    },
  },
  {
    files: ['src/ui/**/*.ts', 'src/extension.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        ...vscodeImport,
        patterns: [{ group: ['../../src/*', '!../../src/protocol', '!../../src/protocol/*'], message: 'The webview may import only src/protocol.' }],
      }],
    },
  },
  {
    files: ['scripts/**/*.mjs', 'test/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
