/**
 * gRPC plumbing shared by the aggregator (server) and its clients (nodes, researchers): the
 * service definition loaded from fedsec.proto, the message shapes, mutual-TLS credentials from
 * the federation PKI, and the mapping of typed fedsec errors to gRPC status + metadata.
 *
 * On the wire an error carries the gRPC status (INVALID_ARGUMENT, PERMISSION_DENIED, ...) and
 * the metadata `fedsec-code` (e.g. `ERR_NODE_PLAN_NOT_APPROVED`) and `fedsec-details` (JSON);
 * {@link fromServiceError} turns it back into a {@link RemoteError} with that code.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FedsecError } from '../common/errors.ts';
import type { TlsCredentials } from '../pki/member.ts';
import type { PeerVerifier } from '../pki/verifier.ts';
import { MAX_MESSAGE_BYTES } from './limits.ts';

/** NodeEnvelope / AggregatorEnvelope as grpc-js hands them over. */
export interface Envelope {
  type: string;
  round_tag: string;
  json: string;
  payload: Uint8Array;
}

/** One chunk of a vector or blob. */
export interface ChunkMsg {
  round_tag: string;
  offset: number;
  total: number;
  elem: string;
  data: Uint8Array;
  hash: string;
}

/** Answer to an upload. */
export interface UploadAckMsg {
  hash: string;
  elements: number;
}

/** A JSON document. */
export interface JsonBodyMsg {
  json: string;
}

/** A progress or result event of RunRound. */
export interface RoundEventMsg {
  type: string;
  json: string;
}

/** Download request. */
export interface DownloadRequestMsg {
  hash: string;
}

const PROTO_PATH = join(dirname(fileURLToPath(import.meta.url)), 'fedsec.proto');
let cached: grpc.ServiceDefinition | undefined;

/** The Federation service definition (loaded once). */
export function federationService(): grpc.ServiceDefinition {
  if (cached === undefined) {
    const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { fedsec: { v1: { Federation: grpc.ServiceClientConstructor } } };
    cached = pkg.fedsec.v1.Federation.service;
  }
  return cached;
}

/** The generic client constructor for the Federation service. */
export function federationClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(federationService(), 'Federation');
}

/** Channel options every fedsec client and server uses (named message-size limits, keepalive). */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Certificates name members by URI, not host name: clients check the aggregator's role instead.
  'grpc.ssl_target_name_override': 'fedsec-aggregator',
};

/** Server credentials: the aggregator's certificate, client certificates required, CA from the PKI. */
export function serverCredentials(tls: TlsCredentials): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
}

/**
 * Client credentials: the member's certificate, the federation CA as sole trust anchor, and a
 * server check that the peer is an unrevoked member with role `aggregator` (host names play no part).
 */
export function clientCredentials(tls: TlsCredentials, verifier: PeerVerifier): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, { checkServerIdentity: verifier.checkServerIdentity(['aggregator']) });
}

/** An error received from the other side, with the sender's typed code. */
export class RemoteError extends FedsecError {
  /** gRPC status code of the call. */
  readonly grpcCode: number;
  constructor(code: string, message: string, grpcCode: number, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
    this.grpcCode = grpcCode;
  }
}

/** gRPC status for a fedsec error code. */
export function statusForCode(code: string): grpc.status {
  if (code === 'ERR_PKI_WRONG_ROLE' || code === 'ERR_AUTH_ROLE' || code === 'ERR_AGG_NOT_OWNER') return grpc.status.PERMISSION_DENIED;
  if (code.startsWith('ERR_PKI_') || code === 'ERR_AUTH_NO_CERT') return grpc.status.UNAUTHENTICATED;
  if (code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_INVALID_MESSAGE' || code === 'ERR_AGG_ROUND_ORDER' || code.startsWith('ERR_CODEC_')) return grpc.status.INVALID_ARGUMENT;
  if (code === 'ERR_AGG_BLOB_TOO_LARGE' || code === 'ERR_LIMIT') return grpc.status.RESOURCE_EXHAUSTED;
  if (code.endsWith('_UNKNOWN')) return grpc.status.NOT_FOUND;
  if (code === 'ERR_AGG_EXPERIMENT_EXISTS' || code === 'ERR_AGG_ROUND_DONE') return grpc.status.ALREADY_EXISTS;
  if (code === 'ERR_AGG_STAGE_TIMEOUT') return grpc.status.DEADLINE_EXCEEDED;
  if (code === 'ERR_AGG_ROUND_BUSY') return grpc.status.ABORTED;
  if (code === 'ERR_AGG_STORE' || code === 'ERR_INTERNAL') return grpc.status.INTERNAL;
  if (code === 'ERR_AGG_SCHEME_UNAVAILABLE') return grpc.status.UNIMPLEMENTED;
  return grpc.status.FAILED_PRECONDITION;
}

/** Converts any thrown value into a gRPC status object with fedsec metadata. Secrets never appear: only typed messages are forwarded. */
export function toServiceError(e: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (e instanceof FedsecError) {
    metadata.set('fedsec-code', e.code);
    if (e.details !== undefined) {
      try {
        metadata.set('fedsec-details', JSON.stringify(e.details).slice(0, 4096));
      } catch {
        // details that do not serialize are dropped
      }
    }
    return { code: statusForCode(e.code), details: e.message.slice(0, 2000), metadata };
  }
  metadata.set('fedsec-code', 'ERR_INTERNAL');
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata };
}

/** Converts a grpc-js ServiceError into a {@link RemoteError} carrying the sender's code. */
export function fromServiceError(e: unknown): FedsecError {
  if (e instanceof FedsecError) return e;
  const se = e as Partial<grpc.ServiceError>;
  if (typeof se?.code !== 'number') return new RemoteError('ERR_TRANSPORT', e instanceof Error ? e.message : String(e), grpc.status.UNKNOWN);
  const code = se.metadata?.get('fedsec-code')[0];
  let details: Record<string, unknown> | undefined;
  const d = se.metadata?.get('fedsec-details')[0];
  if (typeof d === 'string') {
    try {
      details = JSON.parse(d) as Record<string, unknown>;
    } catch {
      details = undefined;
    }
  }
  const typed = typeof code === 'string' && /^ERR_[A-Z0-9_]{1,64}$/.test(code) ? code : se.code === grpc.status.UNAVAILABLE ? 'ERR_UNAVAILABLE' : 'ERR_TRANSPORT';
  return new RemoteError(typed, se.details ?? se.message ?? 'remote error', se.code, details);
}
