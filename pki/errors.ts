/**
 * Typed errors of the PKI and mesh areas. Codes are stable (`ERR_PKI_*`, `ERR_MESH_*`); tests and
 * callers branch on `code`. Messages never contain key material or passphrases.
 */
import { FedsecError } from '../common/errors.ts';

/** Stable codes of {@link PkiError}. */
export type PkiErrorCode =
  | 'ERR_PKI_BAD_CSR'
  | 'ERR_PKI_BAD_SIGNATURE'
  | 'ERR_PKI_WRONG_ROLE'
  | 'ERR_PKI_WRONG_IDENTITY'
  | 'ERR_PKI_WRONG_FEDERATION'
  | 'ERR_PKI_DUPLICATE_IDENTITY'
  | 'ERR_PKI_EXPIRED'
  | 'ERR_PKI_NOT_YET_VALID'
  | 'ERR_PKI_REVOKED'
  | 'ERR_PKI_UNTRUSTED'
  | 'ERR_PKI_BAD_CERT'
  | 'ERR_PKI_BAD_CRL'
  | 'ERR_PKI_CRL_STALE'
  | 'ERR_PKI_CRL_ROLLBACK'
  | 'ERR_PKI_CRL_MISSING'
  | 'ERR_PKI_BAD_PASSPHRASE'
  | 'ERR_PKI_CORRUPT_KEY'
  | 'ERR_PKI_CORRUPT_STATE'
  | 'ERR_PKI_NOT_FOUND'
  | 'ERR_PKI_EXISTS'
  | 'ERR_PKI_LOCKED'
  | 'ERR_PKI_BAD_ROSTER'
  | 'ERR_PKI_KEY_MISMATCH';

/** An error of the federation PKI (CA, enrollment, revocation, peer verification, roster). */
export class PkiError extends FedsecError {
  declare readonly code: PkiErrorCode;
  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, message, options);
  }
}

/** Stable codes of {@link MeshError}. */
export type MeshErrorCode =
  | 'ERR_MESH_TOOL_MISSING'
  | 'ERR_MESH_PRIVILEGE'
  | 'ERR_MESH_COMMAND_FAILED'
  | 'ERR_MESH_TIMEOUT'
  | 'ERR_MESH_BAD_RANGE'
  | 'ERR_MESH_ADDRESS_EXHAUSTED'
  | 'ERR_MESH_BAD_CONFIG'
  | 'ERR_MESH_NO_HUB'
  | 'ERR_MESH_BAD_KEY'
  | 'ERR_MESH_INTERFACE_EXISTS'
  | 'ERR_MESH_NOT_FOUND';

/** An error of the WireGuard mesh (planning, bringing interfaces up/down, status). */
export class MeshError extends FedsecError {
  declare readonly code: MeshErrorCode;
  constructor(code: MeshErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, message, options);
  }
}
