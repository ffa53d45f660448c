/** The wire protocol: message schemas and types, the line codec, the hello check, the generated JSON Schema. */
export * from './messages';
export { PROTOCOL_VERSION } from './version';
export { encodeMessage, decodeLine, MessageDecoder, type Decoded, type DecoderOptions } from './codec';
export { LineFramer, DEFAULT_MAX_LINE_BYTES, isRejection, type Frame, type Line } from './lineFramer';
export { PREVIEW_BYTES, type Rejection, type RejectionReason } from './rejection';
export { checkHello, type HelloCheck } from './hello';
export { buildWireSchema, renderWireSchema, type WireSchema, type MessageSchemas } from './wireSchema';
