/** Why a received line was dropped. Shared by the line framer and the message decoder. */

/** Every way a line can fail, from the bytes up. Stable strings: tests and logs match on them. */
export type RejectionReason =
  | 'line_too_long'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_an_object'
  | 'forbidden_key'
  | 'unknown_type'
  | 'unknown_kind'
  | 'unknown_method'
  | 'invalid_message'
  | 'internal';

export interface Rejection {
  reason: RejectionReason;
  /** One human-readable sentence: what was wrong and where (a JSON path when there is one). */
  detail: string;
  /** The first bytes of the line (about 120), decoded leniently, for the log. */
  preview: string;
  /** 1-based line number in the stream, counting blank lines. */
  lineNumber: number;
  /** Bytes of the line seen (for an over-long line: bytes seen when it was cut off). */
  bytes: number;
  /** The request id of a malformed response, when it could be read: lets a client fail that request at once. */
  requestId?: number | string;
}

export const PREVIEW_BYTES = 120;

/** The first PREVIEW_BYTES of a line as text; a multi-byte character cut at the end is dropped, not shown as garbage. */
export function previewOf(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, PREVIEW_BYTES));
  return head.toString('utf8').replace(/\uFFFD$/, '');
}
