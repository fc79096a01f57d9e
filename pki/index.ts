/**
 * Federation PKI and WireGuard mesh: public surface.
 *
 * For the federation services:
 *  - TLS credentials for grpc-js: {@link loadTlsCredentials} (member key, certificate, CA
 *    certificate) → `grpc.credentials.createSsl(ca, key, cert, { checkServerIdentity })` and
 *    `grpc.ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], true)`.
 *  - {@link PeerVerifier}: synchronous check of a peer certificate (chain to the CA, validity,
 *    federation, role from `urn:fedsec:<federation>:<role>:<id>`, revocation against a CRL that
 *    {@link PeerVerifier.refresh} reloads from file without a restart) returning
 *    `{ federation, role, id, ... }`. grpc-js has no server-side CRL support: call it per call
 *    with `call.getAuthContext()?.sslPeerCertificate` (or per connection), and use
 *    `verifier.checkServerIdentity()` on clients.
 *  - {@link verifyRoster} → {@link VerifiedRoster.toRoster}: the CA-signed roster as the
 *    `Roster` of crypto/roster.ts (members and Ed25519 identity keys for secure aggregation).
 *
 * For enrollment (CLI `fedsec pki`, or in-process for `fedsec demo`): {@link initCa},
 * {@link CertificateAuthority} (sign, renew, revoke, issueCrl, list), {@link createMemberRequest},
 * {@link installCertificate}, {@link signRoster}. For the mesh (`fedsec mesh`):
 * {@link planMesh}, {@link meshUp}, {@link meshDown}, {@link meshStatus}.
 */
export { PkiError, MeshError, type PkiErrorCode, type MeshErrorCode } from './errors.ts';
export {
  initCa, CertificateAuthority, REVOCATION_REASONS,
  type CaConfig, type CertificateRecord, type CertificateListing, type CertificateStatus, type IssuedCertificate,
  type InitCaOptions, type RevocationReason, type SignOptions,
} from './ca.ts';
export {
  createMemberRequest, enrollLocally, installCertificate, loadMemberInfo, loadTlsCredentials, loadTlsKey, loadIdentityKey, loadWireguardPrivateKey, MEMBER_FILES,
  type MemberInfo, type MemberRequest, type TlsCredentials,
} from './member.ts';
export { verifyCsr, buildCsr, type RequestSubject, type VerifiedRequest } from './request.ts';
export { parseCertificate, type CertificateInfo } from './certinfo.ts';
export { PeerVerifier, type PeerVerifierOptions, type VerifiedPeer, type PeerCertificateInput, type CrlState } from './verifier.ts';
export { signRoster, verifyRoster, VerifiedRoster, type RosterEntry, type SignedRosterDocument } from './roster.ts';
export { wireguardGenerateKey, wireguardPublicKey, wireguardKeyPair, parseWireguardKey, generateMemberKeys, type WireguardKeyPair, type MemberKeys } from './keys.ts';
export { DEFAULT_SCRYPT, type ScryptParams } from './keystore.ts';
export { memberUri, parseMemberUri, FEDSEC_OID_ARC, OID_IDENTITY_KEY, OID_WIREGUARD_KEY, type CaAlgorithm, type MemberName } from './x509.ts';
export * from './mesh/index.ts';
