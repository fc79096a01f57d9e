/**
 * Named size limits of the fedsec gRPC protocol. Every limit is enforced on receipt, before the
 * data is used, and violations answer with a typed error (RESOURCE_EXHAUSTED / INVALID_ARGUMENT).
 */

/** Largest payload of one Chunk message (bytes). */
export const MAX_CHUNK_BYTES = 256 * 1024;
/** Largest gRPC message either side sends or accepts (bytes): one chunk plus envelope overhead. */
export const MAX_MESSAGE_BYTES = MAX_CHUNK_BYTES + 64 * 1024;
/** Largest vector (elements) of an update or aggregate. */
export const MAX_VECTOR_LENGTH = 1 << 24;
/** Largest blob (plan bundle, model) moved through UploadBlob / Download (bytes). */
export const MAX_BLOB_BYTES = 256 * 1024 * 1024;
/** Blob uploads one member may have open at once (each reserves its announced size). */
export const MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER = 2;
/** Bytes all open blob uploads together may reserve at the aggregator. */
export const MAX_INFLIGHT_BLOB_BYTES = 2 * MAX_BLOB_BYTES;
/** Largest JSON body of a unary call or envelope (characters). */
export const MAX_JSON_CHARS = 64 * 1024;
/** Largest serialized engine message in a Session envelope (bytes). */
export const MAX_RELAY_BYTES = MAX_CHUNK_BYTES;
/** Largest number of nodes in one round. */
export const MAX_ROUND_NODES = 1024;
