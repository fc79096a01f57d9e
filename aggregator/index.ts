/**
 * The aggregator: the federation's only gRPC server (mutual TLS, role authorization and
 * revocation on every call), round orchestration over the secure-aggregation engines, and its
 * durable store. See docs/services.md.
 */
export { AggregatorService, RoundRun, parseRoundRequest, type AggregatorOptions, type RoundRequest } from './service.ts';
export { AggregatorStore, roundTag, MAX_BLOB_BYTES, type ExperimentRecord, type RoundRecord, type RoundStatus } from './store.ts';
export { AggregatorError, type AggregatorErrorCode } from './errors.ts';
export {
  createScheme, PlainScheme, MaskingScheme, UploadTracker,
  type RoundContext, type SchemeEnv, type SchemeResult, type SchemeServer, type UploadSink,
} from './schemes.ts';
export { JlSchemeServer, jlThreshold, JL_VALUE_BITS, type JlEnv, type JlSetupRecord } from './jl.ts';
export { createLocalFederation, type LocalFederation, type LocalFederationOptions, type LocalMember } from './localfed.ts';
