/** Reads the golden protocol fixtures shared with the Python suite (test/fixtures/protocol). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(__dirname, '..', 'fixtures', 'protocol');

export interface InvalidFixture {
  name: string;
  direction: 'server' | 'client';
  reason: string;
  line?: string;
  lineBase64?: string;
  maxLineBytes?: number;
}

export function fixtureLines(file: string): string[] {
  return readFileSync(join(FIXTURES, file), 'utf8').split('\n').filter((line) => line !== '');
}

export function invalidFixtures(): InvalidFixture[] {
  return fixtureLines('invalid.jsonl').map((line) => JSON.parse(line) as InvalidFixture);
}

export function invalidFixtureBytes(fixture: InvalidFixture): Buffer {
  return fixture.lineBase64 !== undefined ? Buffer.from(fixture.lineBase64, 'base64') : Buffer.from(fixture.line ?? '', 'utf8');
}
