/**
 * Typed failures of the connection layer. Every error that leaves src/transport/ is a TransportError whose `code`
 * says what went wrong and whose message says what the user can do next, so the UI never has to parse messages.
 */

export type TransportErrorCode =
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'auth'
  | 'host_key_unknown_rejected'
  | 'host_key_changed'
  | 'host_key_revoked'
  | 'channel_open'
  | 'disconnected'
  | 'cancelled'
  | 'config'
  | 'invalid_argument'
  | 'file';

export class TransportError extends Error {
  override readonly name = 'TransportError';

  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isTransportError(value: unknown, code?: TransportErrorCode): value is TransportError {
  return value instanceof TransportError && (code === undefined || value.code === code);
}

/** Describes an unknown thrown value in one line (for messages that wrap a cause). */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Maps a Node socket/DNS error raised while connecting to `where` onto a TransportError with advice. */
export function classifyNetworkError(error: unknown, where: string): TransportError {
  if (error instanceof TransportError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const detail = describeError(error);
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new TransportError('dns', `Cannot resolve ${where} (${detail}). Check the host name in your SSH config and your network/DNS.`, { cause: error });
    case 'ECONNREFUSED':
      return new TransportError('refused', `${where} refused the connection (${detail}). Is sshd running there, and is the port right?`, { cause: error });
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TransportError('timeout', `${where} did not answer (${detail}). Check the host is up and reachable (VPN, firewall).`, { cause: error });
    default:
      return new TransportError('disconnected', `The connection to ${where} failed: ${detail}. Try again; if it persists, check the host's sshd log.`, { cause: error });
  }
}
