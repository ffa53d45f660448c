// The manifest: its welcome content (VS Code renders links and command links there, and shows any other markdown
// as its raw characters), and its commands, which are the ones the code registers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../src/ui/commandIds';

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { viewsWelcome: { view: string; contents: string }[]; commands: { command: string; title: string }[] };
};

test('welcome content uses only links: no bold, italics or code marks that would show raw', () => {
  for (const { view, contents } of manifest.contributes.viewsWelcome) {
    const withoutLinks = contents.replace(/\[[^\]]*\]\([^)]*\)/g, '');
    assert.doesNotMatch(withoutLinks, /\*|`|(^|\s)_\S|\S_(\s|$)/, `${view}: ${JSON.stringify(contents)}`);
  }
});

test('the manifest contributes exactly the commands the code registers, the run\'s git mirror included', () => {
  const contributed = manifest.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual(contributed, Object.values(COMMANDS).sort());
  assert.equal(manifest.contributes.commands.find((c) => c.command === COMMANDS.openGitMirror)?.title, "Open Run's Git Mirror");
});
