/** Classified failures of the git mirror, so the UI can say what went wrong without parsing messages. */
export type MirrorErrorCode =
  /** The path holds no mirror (no run.json). */
  | 'not_a_mirror'
  /** A record file exists but is not valid JSON or not the expected shape. */
  | 'corrupt'
  /** The repository mirrors a different run than the one asked for. */
  | 'wrong_run'
  /** A file-system operation failed (permissions, disk full, path is a file). */
  | 'io'
  /** git itself failed (not installed, locked index, broken repository). */
  | 'git_failed';

export class MirrorError extends Error {
  constructor(
    readonly code: MirrorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MirrorError';
  }
}
