/**
 * Splits a byte stream into lines, with a size cap. Works on bytes, not text: '\n' (0x0A) never occurs inside a
 * multi-byte UTF-8 sequence, so splitting first and decoding whole lines is exactly as correct as a streaming
 * TextDecoder for characters cut by chunk boundaries, and it lets the cap count bytes and invalid UTF-8 be caught per line.
 */
import { PREVIEW_BYTES, previewOf, type Rejection } from './rejection';

export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

export interface Line {
  /**
   * The line's bytes without the '\n' (a trailing '\r' is kept; the decoder strips it). May be a view into the pushed
   * chunk: use it before that chunk's memory is reused (MessageDecoder decodes within the same push).
   */
  bytes: Buffer;
  lineNumber: number;
}

export type Frame = Line | Rejection;

export function isRejection(frame: Frame): frame is Rejection {
  return (frame as Rejection).reason !== undefined;
}

/**
 * Feed chunks with `push`, then call `end` once. An over-long line yields one `line_too_long` rejection as soon as the
 * cap is passed; its remaining bytes are dropped without being kept, and framing resumes after the next '\n'.
 * Never throws for any input bytes.
 */
export class LineFramer {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  /** Inside an over-long line: drop bytes until the next newline. */
  private discarding = false;
  private lineNumber = 0;

  constructor(readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
  }

  push(chunk: Uint8Array, out: Frame[]): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    while (start < buf.length) {
      const newline = buf.indexOf(10, start);
      const end = newline === -1 ? buf.length : newline;
      const piece = buf.subarray(start, end);
      if (this.discarding) {
        // Drop: an over-long line is never buffered.
      } else if (this.pendingBytes + piece.length > this.maxLineBytes) {
        this.overflow(piece, out);
      } else if (newline !== -1) {
        out.push(this.complete(piece));
      } else {
        // Copy: the caller may reuse its chunk buffer after push() returns.
        this.parts.push(Buffer.from(piece));
        this.pendingBytes += piece.length;
      }
      if (newline === -1) break;
      // A line ended here: an over-long one's rejection is already out, so framing simply resumes.
      this.discarding = false;
      this.parts = [];
      this.pendingBytes = 0;
      start = newline + 1;
    }
  }

  /** Flushes a final line that has no '\n' (a sender may omit the last newline). */
  end(out: Frame[]): void {
    if (!this.discarding && this.pendingBytes > 0) out.push(this.complete(Buffer.alloc(0)));
    this.parts = [];
    this.pendingBytes = 0;
    this.discarding = false;
  }

  private complete(tail: Buffer): Line {
    this.lineNumber += 1;
    const bytes = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
    this.parts = [];
    return { bytes, lineNumber: this.lineNumber };
  }

  private overflow(piece: Buffer, out: Frame[]): void {
    this.lineNumber += 1;
    // Only the first bytes are shown: join just enough of the (up to cap-sized) pending parts for the preview.
    const headParts: Buffer[] = [];
    let headBytes = 0;
    for (const part of [...this.parts, piece]) {
      if (headBytes >= PREVIEW_BYTES) break;
      headParts.push(part.subarray(0, PREVIEW_BYTES - headBytes));
      headBytes += Math.min(part.length, PREVIEW_BYTES - headBytes);
    }
    const head = Buffer.concat(headParts);
    const seen = this.pendingBytes + piece.length;
    out.push({
      reason: 'line_too_long',
      detail: `line is longer than the ${this.maxLineBytes}-byte cap; dropped up to the next newline`,
      preview: previewOf(head),
      lineNumber: this.lineNumber,
      bytes: seen,
    });
    this.parts = [];
    this.pendingBytes = 0;
    this.discarding = true;
  }
}
