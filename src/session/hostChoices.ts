/**
 * The hosts a "Connect to Host…" quick pick offers, and the recent-hosts list it remembers. Pure; never throws.
 */

/** The built-in local connection (the embedded demo, no SSH). */
export const LOCAL_HOST = 'Local';

export interface HostChoice {
  readonly target: string;
  /** Where the choice comes from, shown as the pick's description. */
  readonly source: 'local' | 'recent' | 'settings' | 'ssh config';
}

/** Local first, then recent hosts (most recent first), then settings, then ~/.ssh/config; each target once. */
export function hostChoices(recent: readonly string[], configured: readonly string[], sshConfig: readonly string[]): HostChoice[] {
  const seen = new Set<string>([LOCAL_HOST]);
  const choices: HostChoice[] = [{ target: LOCAL_HOST, source: 'local' }];
  const add = (targets: readonly string[], source: HostChoice['source']): void => {
    for (const raw of targets) {
      const target = raw.trim();
      if (!target || seen.has(target)) continue;
      seen.add(target);
      choices.push({ target, source });
    }
  };
  add(recent, 'recent');
  add(configured, 'settings');
  add(sshConfig, 'ssh config');
  return choices;
}

/** Moves `target` to the front of the recent list, keeping at most `max` entries. Local is never "recent". */
export function rememberRecent(recent: readonly string[], target: string, max = 10): string[] {
  const trimmed = target.trim();
  if (!trimmed || trimmed === LOCAL_HOST) return [...recent].slice(0, max);
  return [trimmed, ...recent.filter((entry) => entry !== trimmed)].slice(0, max);
}

/** The SecretStorage key under which a passphrase for an identity file on a host is remembered. */
export function passphraseSecretKey(host: string, identityFile: string): string {
  return `archloop.passphrase:${host}:${identityFile}`;
}
