/**
 * The JSON Schema of the wire protocol, built from the zod schemas in messages.ts (the single source of truth).
 * scripts/generate-schema.ts writes it to remote-python/archloop/wire/wire_schema.json; the Python side validates against it.
 */
import { z } from 'zod';
import * as defaultMessages from './messages';
import { PROTOCOL_VERSION } from './version';

/** What the builder needs from a messages module: lets a test build the schema from an edited copy of messages.ts. */
export interface MessageSchemas {
  ServerMessage: z.ZodType;
  ClientMessage: z.ZodType;
  /** The candidate status vocabulary the backend's run store records (absent in an edited copy that drops it). */
  CandidateStatus?: z.ZodType;
}

export interface WireSchema {
  $schema: string;
  $id: string;
  title: string;
  description: string;
  protocolVersion: number;
  $defs: { ServerMessage: unknown; ClientMessage: unknown; CandidateStatus?: unknown };
}

function messageSchema(schema: z.ZodType): unknown {
  // `io: 'output'` makes every object `additionalProperties: false`: what a side sends must be exactly the message,
  // which is the check the Python tests want. The per-message `$schema` is dropped: the file declares it once.
  const { $schema: _dropped, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
  return rest;
}

/** Builds the wire schema: both directions under `$defs`, plus the protocol version. Throws only on an unrepresentable zod type. */
export function buildWireSchema(messages: MessageSchemas = defaultMessages, protocolVersion: number = PROTOCOL_VERSION): WireSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'archloop:wire-protocol',
    title: 'ArchLoop wire protocol',
    description: 'GENERATED from src/protocol/messages.ts by `npm run schema`; do not edit. One JSON object per line, UTF-8.',
    protocolVersion,
    $defs: {
      ServerMessage: messageSchema(messages.ServerMessage),
      ClientMessage: messageSchema(messages.ClientMessage),
      ...(messages.CandidateStatus ? { CandidateStatus: messageSchema(messages.CandidateStatus) } : {}),
    },
  };
}

/** Recursively sorts object keys (arrays keep their order) so the file is byte-identical for the same schemas. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}

/** The exact text of wire_schema.json: sorted keys, two-space indent, trailing newline. */
export function renderWireSchema(schema: WireSchema): string {
  return `${JSON.stringify(sortKeys(schema), null, 2)}\n`;
}
