// Three bundles (docs/DESIGN.md): the extension for Node with `vscode` external, the dashboard and the layer graph
// panel for the browser.
// `*.node` external: ssh2 loads its optional native crypto in a try/catch and falls back to JavaScript without it.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'info' };

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'cpu-features', '*.node'] },
  { ...common, entryPoints: ['webview/src/main.ts'], outfile: 'dist/webview/main.js', platform: 'browser', format: 'iife', target: 'es2022' },
  { ...common, entryPoints: ['webview/src/layers/main.ts'], outfile: 'dist/webview/layers.js', platform: 'browser', format: 'iife', target: 'es2022' },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
