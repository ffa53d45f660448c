import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateSchema } from '../../scripts/generate-schema';
import { PROTOCOL_VERSION, buildWireSchema, renderWireSchema } from '../../src/protocol';

const ROOT = join(__dirname, '..', '..');
const COMMITTED = join(ROOT, 'remote-python', 'archloop', 'wire', 'wire_schema.json');
const work = mkdtempSync(join(tmpdir(), 'archloop-schema-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs the generator in-process and captures what it prints. */
async function generator(...args: string[]): Promise<{ code: number; stderr: string }> {
  const errors: string[] = [];
  const code = await generateSchema(args, () => {}, (line) => errors.push(line));
  return { code, stderr: errors.join('\n') };
}

/** A private copy of src/protocol with one edit in messages.ts; node_modules is linked so the copy resolves zod. */
function editedProtocolCopy(from: string, to: string): string {
  const protocol = join(work, 'protocol');
  spawnSync('cp', ['-r', join(ROOT, 'src', 'protocol'), protocol]);
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
  const messages = join(protocol, 'messages.ts');
  const source = readFileSync(messages, 'utf8');
  assert.ok(source.includes(from), 'the edit does not apply: point this test at a line that exists in messages.ts');
  writeFileSync(messages, source.replace(from, to));
  return messages;
}

test('the committed wire_schema.json is what the zod schemas generate today, byte for byte', () => {
  const text = renderWireSchema(buildWireSchema());
  assert.equal(readFileSync(COMMITTED, 'utf8'), text, 'wire_schema.json is stale: run npm run schema');
  assert.equal(renderWireSchema(buildWireSchema()), text, 'generation is not deterministic');
  assert.ok(text.endsWith('}\n'));
  assert.equal(JSON.parse(text).protocolVersion, PROTOCOL_VERSION);
});

test('--check passes on a current file and fails with a clear message on a hand-edited one, writing nothing', async () => {
  const copy = join(work, 'edited.json');
  writeFileSync(copy, readFileSync(COMMITTED, 'utf8'));
  assert.deepEqual(await generator('--check', '--out', copy), { code: 0, stderr: '' });
  const edited = readFileSync(COMMITTED, 'utf8').replace('"maxLength": 128', '"maxLength": 127');
  writeFileSync(copy, edited);
  const result = await generator('--check', '--out', copy);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^wire_schema\.json is stale: run npm run schema/);
  assert.equal(readFileSync(copy, 'utf8'), edited, '--check must not write');
  assert.match((await generator('--check', '--out', join(work, 'missing.json'))).stderr, /stale.*is missing/);
});

test('editing a zod schema without regenerating makes `schema:check` exit 1; regenerating picks the edit up', async () => {
  const messages = editedProtocolCopy('const Text = z.string().max(64 * 1024);', 'const Text = z.string().max(32 * 1024);');
  // The real command line once, end to end: exit status and message are what CI sees.
  const cli = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'generate-schema.ts'), '--check', '--messages', messages], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stderr, /wire_schema\.json is stale: run npm run schema/);

  const out = join(work, 'regenerated.json');
  assert.equal((await generator('--messages', messages, '--out', out)).code, 0);
  const regenerated = readFileSync(out, 'utf8');
  assert.ok(regenerated.includes('"maxLength": 32768'));
  assert.ok(!regenerated.includes('"maxLength": 65536'));
  assert.equal((await generator('--check', '--messages', messages, '--out', out)).code, 0);
});

test('bad generator arguments exit 2 with a message', async () => {
  const result = await generator('--frobnicate');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /unknown argument --frobnicate/);
});
