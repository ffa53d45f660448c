/**
 * Client authentication in OpenSSH's order, as an ssh2 authHandler: ssh-agent keys, then identity files (asking
 * for passphrases), then keyboard-interactive, then password (both through UI callbacks). PreferredAuthentications
 * reorders or drops the groups. Every attempt is recorded so that a failure can say exactly what was tried.
 */

import { existsSync } from 'node:fs';
import type { AnyAuthMethod, AuthenticationType, AuthHandlerMiddleware, KeyboardInteractiveCallback, NextAuthHandler, Prompt } from 'ssh2';
import { abortable } from './abort.js';
import { TransportError, describeError } from './errors.js';
import { loadIdentity, type PassphraseCallback } from './identityFiles.js';
import type { ResolvedHost } from './sshConfig.js';

export interface PasswordRequest {
  user: string;
  host: string;
  attempt: number;
}

export interface KeyboardInteractiveRequest {
  user: string;
  host: string;
  name: string;
  instructions: string;
  prompts: { prompt: string; echo: boolean }[];
}

export interface AuthCallbacks {
  passphrase?: PassphraseCallback;
  /** Returns the password, or undefined to stop trying passwords. */
  password?: (request: PasswordRequest, signal: AbortSignal) => Promise<string | undefined>;
  /** Returns one answer per prompt, or undefined to skip this method. */
  keyboardInteractive?: (request: KeyboardInteractiveRequest, signal: AbortSignal) => Promise<string[] | undefined>;
  /** Observes each method as it is tried (for logs; tests use it to prove nothing was tried). */
  onAttempt?: (description: string) => void;
}

type Attempt = { group: 'publickey' | 'keyboard-interactive' | 'password'; description: string; make: () => Promise<AnyAuthMethod | null> };

const PASSWORD_ATTEMPTS = 3;

/** Builds the authHandler and a function that turns ssh2's final auth failure into a TransportError. */
export function createAuthHandler(
  host: ResolvedHost,
  callbacks: AuthCallbacks,
  signal: AbortSignal,
  pauseDeadline: <T>(work: Promise<T>) => Promise<T>,
): { handler: AuthHandlerMiddleware; failure: (serverMethods: string[] | null) => TransportError } {
  const user = host.user;
  const tried: string[] = [];
  let serverMethods: string[] | null = null;
  const attempts: Attempt[] = [];

  if (host.agentSocket && !host.identitiesOnly) {
    const socket = host.agentSocket;
    attempts.push({
      group: 'publickey',
      description: `keys in ssh-agent (${socket})`,
      make: async () => (existsSync(socket) ? { type: 'agent', username: user, agent: socket } : (tried.push(`ssh-agent: socket ${socket} does not exist`), null)),
    });
  }
  for (const keyFile of host.identityFiles) {
    attempts.push({
      group: 'publickey',
      description: `key ${keyFile}`,
      make: async () => {
        const loaded = await pauseDeadline(loadIdentity(keyFile, callbacks.passphrase, signal));
        if (loaded.status === 'loaded') return { type: 'publickey', username: user, key: loaded.key };
        if (loaded.status === 'skipped') tried.push(`key ${keyFile}: ${loaded.reason}`);
        else if (host.identityFilesConfigured) tried.push(`key ${keyFile}: file not found`);
        return null;
      },
    });
  }
  if (host.kbdInteractiveAuthentication && callbacks.keyboardInteractive) {
    const ask = callbacks.keyboardInteractive;
    attempts.push({
      group: 'keyboard-interactive',
      description: 'keyboard-interactive',
      make: async () => ({
        type: 'keyboard-interactive',
        username: user,
        prompt: (name: string, instructions: string, _lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => {
          if (prompts.length === 0) {
            finish([]);
            return;
          }
          const request = { user, host: host.hostName, name, instructions, prompts: prompts.map((p) => ({ prompt: p.prompt, echo: p.echo ?? false })) };
          pauseDeadline(abortable(ask(request, signal), signal, 'The login prompt')).then(
            (answers) => finish(answers ?? prompts.map(() => '')),
            () => finish(prompts.map(() => '')),
          );
        },
      }),
    });
  }
  if (host.passwordAuthentication && callbacks.password) {
    const ask = callbacks.password;
    for (let attempt = 1; attempt <= PASSWORD_ATTEMPTS; attempt++) {
      attempts.push({
        group: 'password',
        description: 'password',
        make: async () => {
          const password = await pauseDeadline(abortable(ask({ user, host: host.hostName, attempt }, signal), signal, 'The password prompt'));
          if (password === undefined) {
            // The user gave up: drop the remaining password attempts.
            for (let i = attempts.length - 1; i >= 0; i--) if (attempts[i]?.group === 'password') attempts.splice(i, 1);
            return null;
          }
          return { type: 'password', username: user, password };
        },
      });
    }
  }
  if (host.preferredAuthentications) {
    const order = host.preferredAuthentications;
    const rank = (attempt: Attempt) => order.indexOf(attempt.group);
    const kept = attempts.filter((attempt) => rank(attempt) >= 0).sort((a, b) => rank(a) - rank(b));
    attempts.splice(0, attempts.length, ...kept);
  }

  let started = false;
  let pending: string | null = null;
  const handler = (methodsLeft: AuthenticationType[] | null | string[], _partial: boolean | null, next: NextAuthHandler): void => {
    if (methodsLeft) serverMethods = methodsLeft as string[];
    if (pending) tried.push(`${pending}: rejected by the server`);
    pending = null;
    if (!started) {
      // 'none' first, as ssh does: it costs nothing and tells us which methods the server offers.
      started = true;
      next({ type: 'none', username: user });
      return;
    }
    const step = async (): Promise<void> => {
      while (attempts.length > 0) {
        const attempt = attempts.shift() as Attempt;
        if (serverMethods && !serverMethods.includes(attempt.group)) continue;
        callbacks.onAttempt?.(attempt.description);
        let method: AnyAuthMethod | null;
        try {
          method = await attempt.make();
        } catch (error) {
          if (signal.aborted) break;
          tried.push(`${attempt.description}: ${describeError(error)}`);
          continue;
        }
        if (method) {
          pending = attempt.description;
          next(method);
          return;
        }
      }
      next(false as unknown as AuthenticationType);
    };
    void step();
  };

  const failure = (methods: string[] | null): TransportError => {
    const offered = methods ?? serverMethods;
    const lines = tried.length > 0 ? tried.map((line) => `  - ${line}`).join('\n') : '  - nothing (no agent, no readable key, no prompt available)';
    return new TransportError(
      'auth',
      `Authentication as ${user}@${host.hostName}:${host.port} failed. Tried:\n${lines}\n` +
        `${offered ? `The server accepts: ${offered.join(', ')}. ` : ''}` +
        `Add your public key to ~/.ssh/authorized_keys on the host, load it into ssh-agent (ssh-add), or set IdentityFile for this host in your SSH config.`,
    );
  };
  return { handler: handler as unknown as AuthHandlerMiddleware, failure };
}
