/**
 * Resolves what the user typed (an alias from ~/.ssh/config, or `user@host:port`) into everything needed to
 * connect, following ssh_config(5) through the `ssh-config` package's compute() (first value wins, Host patterns
 * with `*`, `?` and `!`, Match). What this module adds: Include (files and globs, ~/.ssh-relative), the %-tokens and
 * `~` in paths, ProxyJump chains (each hop resolved through the same config) and defaults as OpenSSH has them.
 *
 * Not supported, reported in `warnings` instead of silently ignored: ProxyCommand, and `Match exec` (never run: we
 * do not execute commands from a config just to list or resolve hosts). Reading failures throw TransportError
 * `config` naming the file.
 */

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir, hostname as localHostname, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import SSHConfig, { LineType, type Line } from 'ssh-config';
import { TransportError, describeError } from './errors.js';

export interface ResolvedHost {
  /** What the user typed, without user and port (the Host alias). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** Identity files to offer, absolute paths. From IdentityFile, else OpenSSH's default names in ~/.ssh. */
  identityFiles: string[];
  /** True if the files came from IdentityFile lines (missing ones are then worth a warning). */
  identityFilesConfigured: boolean;
  identitiesOnly: boolean;
  /** Agent socket path, or null when IdentityAgent is `none` or no agent is configured. */
  agentSocket: string | null;
  /** Hops to go through, first to last; empty for a direct connection. */
  proxyJump: ResolvedHost[];
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hashKnownHosts: boolean;
  connectTimeoutMs: number | null;
  serverAliveIntervalMs: number | null;
  serverAliveCountMax: number | null;
  /** Lower-cased method names from PreferredAuthentications, or null for OpenSSH's order. */
  preferredAuthentications: string[] | null;
  passwordAuthentication: boolean;
  kbdInteractiveAuthentication: boolean;
  warnings: string[];
}

export interface SshConfigOptions {
  /** The config file; default ~/.ssh/config. A missing file is an empty config. */
  configPath?: string;
  /** Home directory for `~` and defaults; default os.homedir(). */
  homeDir?: string;
  /** Local user name (%u, and the default remote user); default os.userInfo().username. */
  localUser?: string;
  /** Environment for SSH_AUTH_SOCK and `${VAR}` in paths; default process.env. */
  env?: NodeJS.ProcessEnv;
}

interface HostSpec {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

const DEFAULT_IDENTITY_NAMES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_dsa'];
const MAX_INCLUDE_DEPTH = 16;
const MAX_JUMP_HOPS = 8;

/** Parses `host`, `user@host`, `host:port`, `user@host:port` and `[v6addr]:port`. */
export function parseHostSpec(spec: string): HostSpec {
  const trimmed = spec.trim();
  if (trimmed === '' || /\s/.test(trimmed)) {
    throw new TransportError('config', `"${spec}" is not a host: use an alias from your SSH config or user@host[:port].`);
  }
  const at = trimmed.lastIndexOf('@');
  const user = at >= 0 ? trimmed.slice(0, at) : undefined;
  let rest = at >= 0 ? trimmed.slice(at + 1) : trimmed;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    rest = bracketed[1] ?? '';
    port = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
  } else {
    const colon = /^([^:]+):(\d+)$/.exec(rest);
    if (colon) {
      rest = colon[1] ?? '';
      port = Number(colon[2]);
    } else if ((rest.match(/:/g) ?? []).length === 1) {
      throw new TransportError('config', `"${spec}" has a port that is not a number.`);
    }
  }
  if (port !== undefined && (port < 1 || port > 65535)) throw new TransportError('config', `Port ${port} in "${spec}" is out of range (1-65535).`);
  if (rest === '' || user === '') throw new TransportError('config', `"${spec}" is not a host: use user@host[:port].`);
  return { user, host: rest, port };
}

function readConfigFile(path: string): SSHConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new SSHConfig();
    throw new TransportError('config', `Cannot read SSH config ${path}: ${describeError(error)}.`, { cause: error });
  }
  try {
    return SSHConfig.parse(text);
  } catch (error) {
    throw new TransportError('config', `Cannot parse SSH config ${path}: ${describeError(error)}. Fix the file or choose another config.`, { cause: error });
  }
}

function directiveValues(line: Line): string[] {
  if (line.type !== LineType.DIRECTIVE) return [];
  return typeof line.value === 'string' ? line.value.split(/\s+/).filter(Boolean) : line.value.map((part) => part.val);
}

/** Expands one Include argument (relative to ~/.ssh, `~`, and `*`/`?` globs in the last path segment) to files. */
function includeTargets(pattern: string, homeDir: string): string[] {
  const expanded = pattern.startsWith('~') ? join(homeDir, pattern.slice(1)) : pattern;
  const path = isAbsolute(expanded) ? expanded : join(homeDir, '.ssh', expanded);
  const name = basename(path);
  if (!/[*?]/.test(name)) return [path];
  const regex = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  try {
    return readdirSync(dirname(path))
      .filter((entry) => regex.test(entry))
      .sort()
      .map((entry) => join(dirname(path), entry))
      .filter((file) => statSync(file).isFile());
  } catch {
    return [];
  }
}

/**
 * Returns the config with every Include replaced by the included lines. Inside a Host/Match section the included
 * plain directives join that section; included sections follow it (so they apply after it, as in OpenSSH).
 */
function inlineIncludes(config: SSHConfig, homeDir: string, depth: number): SSHConfig {
  if (depth > MAX_INCLUDE_DEPTH) throw new TransportError('config', `SSH config Include nests deeper than ${MAX_INCLUDE_DEPTH} levels (a loop?).`);
  const result = new SSHConfig();
  const loadIncluded = (line: Line): Line[] =>
    directiveValues(line).flatMap((pattern) => includeTargets(pattern, homeDir).flatMap((file) => [...inlineIncludes(readConfigFile(file), homeDir, depth + 1)]));
  for (const line of config) {
    if (line.type !== LineType.DIRECTIVE) continue;
    if (/^include$/i.test(line.param)) {
      result.push(...loadIncluded(line));
    } else if ('config' in line) {
      const body = new SSHConfig();
      const hoisted: Line[] = [];
      for (const inner of line.config) {
        if (inner.type === LineType.DIRECTIVE && /^include$/i.test(inner.param)) {
          for (const included of loadIncluded(inner)) (included.type === LineType.DIRECTIVE && 'config' in included ? hoisted : body).push(included);
        } else {
          body.push(inner);
        }
      }
      result.push({ ...line, config: body }, ...hoisted);
    } else {
      result.push(line);
    }
  }
  return result;
}

/** Loads a config file with its Includes inlined. */
export function loadSshConfig(options: SshConfigOptions = {}): SSHConfig {
  const homeDir = options.homeDir ?? homedir();
  return inlineIncludes(readConfigFile(options.configPath ?? join(homeDir, '.ssh', 'config')), homeDir, 0);
}

/** Host aliases from `Host` lines that name one host (no `*`, `?` or `!`), in file order, for a quick pick. */
export function listConfiguredHosts(options: SshConfigOptions = {}): string[] {
  const hosts: string[] = [];
  for (const line of loadSshConfig(options)) {
    if (line.type !== LineType.DIRECTIVE || !/^host$/i.test(line.param)) continue;
    for (const pattern of directiveValues(line)) {
      if (!/[*?!]/.test(pattern) && !hosts.includes(pattern)) hosts.push(pattern);
    }
  }
  return hosts;
}

interface Tokens {
  h: string;
  u: string;
  r: string;
  p: string;
  d: string;
  n: string;
  l: string;
}

/** Expands `~`, `%h %u %r %p %d %n %l %%` and `${VAR}` in a path-valued option, as ssh_config(5) describes. */
export function expandPath(value: string, tokens: Tokens, env: NodeJS.ProcessEnv): string {
  let out = value.replace(/%([%hurpdnl])/g, (_, token: string) => (token === '%' ? '%' : tokens[token as keyof Tokens]));
  out = out.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '');
  if (out === '~') return tokens.d;
  if (out.startsWith('~/')) return join(tokens.d, out.slice(2));
  return out;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(/\s+/)).filter(Boolean);
}

function yes(value: string | string[] | undefined, fallback: boolean): boolean {
  const text = first(value)?.toLowerCase();
  if (text === undefined) return fallback;
  return text === 'yes' || text === 'true';
}

function positiveInt(value: string | string[] | undefined, option: string, warnings: string[]): number | null {
  const text = first(value);
  if (text === undefined) return null;
  const number = Number(text);
  if (!Number.isInteger(number) || number < 0) {
    warnings.push(`${option} ${text} is not a whole number; ignored.`);
    return null;
  }
  return number;
}

function resolveOne(spec: string, config: SSHConfig, options: SshConfigOptions, hopDepth: number): ResolvedHost {
  const env = options.env ?? process.env;
  const homeDir = options.homeDir ?? homedir();
  const localUser = options.localUser ?? userInfo().username;
  const parsed = parseHostSpec(spec);
  // Match exec is never run (see the module comment); ignoreCase gives lower-case keys whatever the file's case.
  const computed = config.compute(parsed.user ? { Host: parsed.host, User: parsed.user } : { Host: parsed.host }, { ignoreCase: true, matchExec: false });
  const warnings: string[] = [];

  const hostName = first(computed.hostname)?.replace(/%h/g, parsed.host) ?? parsed.host;
  const user = parsed.user ?? first(computed.user) ?? localUser;
  const portText = first(computed.port);
  const port = parsed.port ?? (portText === undefined ? 22 : Number(portText));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TransportError('config', `Port ${portText} for host ${parsed.host} in your SSH config is not a valid port.`);
  const tokens: Tokens = { h: hostName, u: localUser, r: user, p: String(port), d: homeDir, n: parsed.host, l: localHostname() };

  const configuredIdentities = all(computed.identityfile).map((file) => expandPath(file, tokens, env));
  const identityFiles = configuredIdentities.length > 0 ? configuredIdentities : DEFAULT_IDENTITY_NAMES.map((name) => join(homeDir, '.ssh', name));

  const agentSetting = first(computed.identityagent);
  let agentSocket: string | null;
  if (agentSetting === undefined || agentSetting === 'SSH_AUTH_SOCK') agentSocket = env.SSH_AUTH_SOCK || null;
  else if (agentSetting.toLowerCase() === 'none') agentSocket = null;
  else agentSocket = expandPath(agentSetting.startsWith('$') && !agentSetting.startsWith('${') ? `\${${agentSetting.slice(1)}}` : agentSetting, tokens, env) || null;

  const userKnownHosts = all(computed.userknownhostsfile);
  const globalKnownHosts = all(computed.globalknownhostsfile);
  const preferred = first(computed.preferredauthentications);

  if (computed.proxycommand !== undefined && first(computed.proxycommand)?.toLowerCase() !== 'none') {
    warnings.push('ProxyCommand is not supported by ArchLoop; use ProxyJump instead. The connection is made directly.');
  }

  const jumpSetting = first(computed.proxyjump);
  const proxyJump: ResolvedHost[] = [];
  if (jumpSetting !== undefined && jumpSetting.toLowerCase() !== 'none') {
    const hops = jumpSetting.split(',').map((hop) => hop.trim()).filter(Boolean);
    if (hopDepth + hops.length > MAX_JUMP_HOPS) throw new TransportError('config', `ProxyJump for ${parsed.host} has more than ${MAX_JUMP_HOPS} hops (a loop?).`);
    for (const hop of hops) {
      // A hop's own ProxyJump is resolved too, and its chain goes before it, as `ssh -J` does.
      const resolvedHop = resolveOne(hop.replace(/^ssh:\/\//, ''), config, options, hopDepth + hops.length);
      proxyJump.push(...resolvedHop.proxyJump, { ...resolvedHop, proxyJump: [] });
    }
  }

  return {
    alias: parsed.host,
    hostName,
    port,
    user,
    identityFiles,
    identityFilesConfigured: configuredIdentities.length > 0,
    identitiesOnly: yes(computed.identitiesonly, false),
    agentSocket,
    proxyJump,
    userKnownHostsFiles: (userKnownHosts.length ? userKnownHosts : ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).map((file) => expandPath(file, tokens, env)),
    globalKnownHostsFiles: (globalKnownHosts.length ? globalKnownHosts : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).map((file) => expandPath(file, tokens, env)),
    hashKnownHosts: yes(computed.hashknownhosts, false),
    connectTimeoutMs: ((seconds) => (seconds === null ? null : seconds * 1000))(positiveInt(computed.connecttimeout, 'ConnectTimeout', warnings)),
    serverAliveIntervalMs: ((seconds) => (seconds === null ? null : seconds * 1000))(positiveInt(computed.serveraliveinterval, 'ServerAliveInterval', warnings)),
    serverAliveCountMax: positiveInt(computed.serveralivecountmax, 'ServerAliveCountMax', warnings),
    preferredAuthentications: preferred === undefined ? null : preferred.toLowerCase().split(',').map((method) => method.trim()).filter(Boolean),
    passwordAuthentication: yes(computed.passwordauthentication, true),
    kbdInteractiveAuthentication: yes(computed.kbdinteractiveauthentication, yes(computed.challengeresponseauthentication, true)),
    warnings,
  };
}

/**
 * Resolves `spec` (an alias or `user@host:port`) through the SSH config. Throws TransportError `config` for an
 * unreadable config, a malformed spec or port, or a ProxyJump loop.
 */
export function resolveHost(spec: string, options: SshConfigOptions = {}): ResolvedHost {
  return resolveOne(spec, loadSshConfig(options), options, 0);
}
