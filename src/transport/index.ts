/** The connection layer's public surface: what src/session and src/ui import. */

export type { Channel, ExecOptions, ExitStatus, FileOptions, FileStat, KillSignal, RunOptions, RunResult, Transport, WriteFileOptions } from './types.js';
export { TransportError, isTransportError, type TransportErrorCode } from './errors.js';
export { SshTransport, type OpenSshOptions } from './sshTransport.js';
export { LocalTransport, type LocalTransportOptions } from './localTransport.js';
export { connectSsh, type ConnectOptions, type SshConnection } from './sshConnection.js';
export { listConfiguredHosts, parseHostSpec, resolveHost, type ResolvedHost, type SshConfigOptions } from './sshConfig.js';
export type { HostKeyCallback, HostKeyPrompt } from './hostKeyCheck.js';
export type { AuthCallbacks, KeyboardInteractiveRequest, PasswordRequest } from './sshAuth.js';
export type { PassphraseCallback, PassphraseRequest } from './identityFiles.js';
export { loginShellCommand, posixCommandLine, quotePosix } from './shellQuote.js';
