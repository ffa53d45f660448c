/** Wire protocol version. Bump on any incompatible change to the schemas in this folder. */
export const PROTOCOL_VERSION = 1;
