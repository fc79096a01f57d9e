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
export { JlScheme, generateNodeKey, nodeKeyBits, selfMaskWords, maskWords, maskElement, addMaskWords } from './scheme.ts';
