/**
 * Writes remote-python/archloop/wire/wire_schema.json from the zod schemas in src/protocol/messages.ts.
 *   npx tsx scripts/generate-schema.ts            (npm run schema)        regenerate the file
 *   npx tsx scripts/generate-schema.ts --check    (npm run schema:check)  write nothing; exit 1 if the file is stale
 * Options for tests: --out PATH (another target file), --messages PATH (build from another copy of messages.ts).
 * Exit codes: 0 ok, 1 stale (with --check), 2 bad usage or a schema that cannot be built.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildWireSchema, renderWireSchema, type MessageSchemas } from '../src/protocol/wireSchema';

const DEFAULT_OUT = resolve(__dirname, '..', 'remote-python', 'archloop', 'wire', 'wire_schema.json');

interface Options {
  check: boolean;
  out: string;
  messages: string | null;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { check: false, out: DEFAULT_OUT, messages: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return resolve(next);
    };
    if (arg === '--check') options.check = true;
    else if (arg === '--out') options.out = value();
    else if (arg === '--messages') options.messages = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  return options;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The whole command, callable in-process (tests): returns the exit code; messages go to `log`/`fail`. */
export async function generateSchema(argv: string[], log: (line: string) => void = console.log, fail: (line: string) => void = console.error): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(argv);
  } catch (error) {
    fail(`generate-schema: ${(error as Error).message}`);
    return 2;
  }
  const messages: MessageSchemas | undefined = options.messages
    ? ((await import(pathToFileURL(options.messages).href)) as MessageSchemas)
    : undefined;
  const text = renderWireSchema(buildWireSchema(messages));
  const current = readOrNull(options.out);
  if (options.check) {
    if (current === text) return 0;
    const why = current === null ? 'is missing' : 'differs from src/protocol/messages.ts';
    fail(`wire_schema.json is stale: run npm run schema (${options.out} ${why})`);
    return 1;
  }
  if (current !== text) writeFileSync(options.out, text);
  log(`${current === text ? 'unchanged' : 'wrote'} ${options.out}`);
  return 0;
}

if (require.main === module) {
  generateSchema(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`generate-schema: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(2);
    },
  );
}
