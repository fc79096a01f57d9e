/**
 * Public surface of fedsec's crypto layer: thin wrappers over audited primitives
 * (@noble/*, node:crypto) and the transport-agnostic protocol engines. No I/O here.
 */
export { systemRandom, seededRandomSource, randomBytes, randomBigIntBelow, randomBigIntBits, randomIntBelow, bytesToBigIntBE, bigIntToBytesBE } from './random.ts';
export type { RandomSource } from './random.ts';
export { utf8, concatBytes, u32be, encodeTuple, equalBytes, toHex, fromHex, toBase64, fromBase64 } from './bytes.ts';
export type { TupleItem } from './bytes.ts';
export { hkdfSha256, deriveKey, sha256Digest, FEDSEC_KDF_SALT } from './hkdf.ts';
export { generateX25519KeyPair, x25519PublicKey, x25519SharedSecret } from './x25519.ts';
export type { X25519KeyPair } from './x25519.ts';
export { generateSigningKeyPair, signingPublicKey, sign, verify, verifyOrThrow } from './ed25519.ts';
export type { SigningKeyPair } from './ed25519.ts';
export { aeadSeal, aeadOpen, seal, open, AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from './aead.ts';
export { aesCtrKeystream, expandMask } from './prg.ts';
export {
  SHAMIR_PRIME_256, MAX_SHARE_INDEX, SHARE_BYTES_256, ShamirError, splitSecret, combineShares, splitBytes32, combineBytes32,
  encodeShare256, decodeShare256, modInverse,
} from './shamir.ts';
export type { Share } from './shamir.ts';
export { FixedPointCodec, CodecError } from './codec.ts';
export type { CodecParams, NumericVector } from './codec.ts';
export { Roster, RosterError, ROLES } from './roster.ts';
export type { Role, RosterMember } from './roster.ts';
export {
  MaskingClient, MaskingServer, MaskingRound, SecAggError, SECAGG_ERROR_CODES, MASKING_PROTOCOL, parseClientMessage, parseServerMessage,
  splitMaskedInput, chooseMaskingParameters,
} from './masking/index.ts';
export type {
  MaskingConfig, MaskingClientOptions, MaskingClientStage, MaskingServerStage, MaskingResult, SecAggErrorCode, MaskingParameterGoals,
  MaskingParameters, ClientMessage as MaskingClientMessage, ServerMessage as MaskingServerMessage, Outgoing as MaskingOutgoing,
} from './masking/index.ts';
