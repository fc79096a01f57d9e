/**
 * Pairwise-masking secure aggregation (Bonawitz et al. 2017, double masking; SecAgg+ neighbour
 * graph of Bell et al. 2020): transport-agnostic client and server state machines.
 */
export { MaskingRound, MASKING_PROTOCOL, MAX_VECTOR_LENGTH, MAX_PARTICIPANTS } from './config.ts';
export type { MaskingConfig } from './config.ts';
export { SecAggError, SECAGG_ERROR_CODES } from './errors.ts';
export type { SecAggErrorCode } from './errors.ts';
export { MaskingClient, checkInput, advertisePayload, consistencyPayload } from './client.ts';
export type { MaskingClientOptions, MaskingClientStage } from './client.ts';
export { MaskingServer, MASKING_SERVER_STAGES } from './server.ts';
export type { MaskingServerStage, MaskingResult } from './server.ts';
export { parseClientMessage, parseServerMessage, splitMaskedInput, SHARE_CIPHERTEXT_BYTES, SHARE_PLAINTEXT_BYTES } from './messages.ts';
export type {
  AdvertiseKeysMessage, AdvertisedKeys, KeysMessage, OutgoingShare, ShareKeysMessage, IncomingShare, SharesMessage,
  MaskedInputMessage, ConsistencyRequestMessage, ConsistencyMessage, SurvivorSignature, UnmaskRequestMessage,
  RevealedShare, UnmaskMessage, ClientMessage, ServerMessage, Outgoing,
} from './messages.ts';
export { chooseMaskingParameters, hypergeometricTailLog2 } from './params.ts';
export type { MaskingParameterGoals, MaskingParameters } from './params.ts';
export { combineMasks, pairMaskSeed, MASK_BLOCK_WORDS } from './masks.ts';
export type { MaskSpec } from './masks.ts';
export { SIMD_ENABLED } from './simd.ts';
