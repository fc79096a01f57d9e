/**
 * Joye-Libert secure aggregation: public surface (named exports only). See docs/jl.md.
 */
export { JlError, type JlErrorCode } from './errors.ts';
export { OpenSslModPow, modPow, modPowBigInt, batchInverse, bitLength } from './modexp.ts';
export {
  generateModulus,
  parseModulus,
  checkModulus,
  modulusToJson,
  modulusFingerprint,
  MIN_MODULUS_BITS,
  MIN_INSECURE_MODULUS_BITS,
  MAX_MODULUS_BITS,
  MODULUS_FORMAT,
  type JlModulus,
  type JlModulusFile,
} from './modulus.ts';
export { hashToGroup, tagKey, sameTag, assertTag, HASH_TO_GROUP_DOMAIN, type JlTag } from './hash.ts';
export { packingLayout, pack, unpack, sumsToRing, ciphertextCount, type PackingLayout } from './packing.ts';
export { JlScheme, generateNodeKey, nodeKeyBits, selfMaskStream, maskWords, maskElement, addMaskStream, maskSumElement } from './scheme.ts';
export {
  additiveShares,
  intShamirSplit,
  intShamirCombine,
  intLagrangeAtZero,
  intShamirCoefficientBits,
  factorial,
  STAT_SECURITY_BITS,
  type IntShare,
} from './intshare.ts';
export {
  JlSetupNode,
  JlSetupResearcher,
  JlSetupRelay,
  checkSetupConfig,
  verifyAdvertisement,
  nodeIndex,
  channelKey,
  type JlIdentity,
  type JlSetupConfig,
  type JlSetupAdvertise,
  type JlSetupShares,
  type JlSetupSum,
  type JlNodeKeys,
  type JlResearcherKeys,
} from './setup.ts';
export {
  JlNode,
  JlAggregatorRound,
  JlResearcher,
  requestDigest,
  responseDigest,
  submissionDigest,
  type JlSubmission,
  type JlUnmaskProposal,
  type JlUnmaskRequest,
  type JlNodeUnmaskInput,
  type JlUnmaskResponse,
  type JlAggregate,
  type JlRoundResult,
  type JlAggregatorConfig,
  type JlEngineOptions,
} from './round.ts';
export { JlWorkerPool, computePads, defaultWorkers, type PadJob } from './pool.ts';
export { encodeSignedBigInt, decodeSignedBigInt, decodeTuple, tupleDigest } from './wire.ts';
