/**
 * A throwaway federation on one machine, built with the real PKI (pki/): a CA, an aggregator,
 * nodes and researchers enrolled through CSRs, certificates installed, a CRL and a CA-signed
 * roster. Used by `fedsec demo`, `fedsec bench round` and the end-to-end tests.
 */
import { join } from 'node:path';
import { initCa, type CertificateAuthority } from '../pki/ca.ts';
import { createMemberRequest, installCertificate, loadIdentityKey, loadTlsCredentials, type TlsCredentials } from '../pki/member.ts';
import { signRoster, type SignedRosterDocument } from '../pki/roster.ts';
import { PeerVerifier } from '../pki/verifier.ts';
import type { Role } from '../crypto/roster.ts';
import { randomBytes } from '../crypto/random.ts';
import { toHex } from '../crypto/bytes.ts';
import { identitySecretFromKeyObject } from '../node/agent.ts';

/** One enrolled member of a local federation. */
export interface LocalMember {
  readonly id: string;
  readonly role: Role;
  /** Member directory (keys, certificate, CA certificate). */
  readonly dir: string;
  readonly tls: TlsCredentials;
  /** Raw Ed25519 identity secret (32 bytes). */
  readonly identitySecretKey: Uint8Array;
}

/** A local federation. */
export interface LocalFederation {
  readonly federation: string;
  readonly dir: string;
  readonly ca: CertificateAuthority;
  readonly caPem: string;
  /** The CA's CRL file (reloaded by verifiers). */
  readonly crlFile: string;
  readonly members: ReadonlyMap<string, LocalMember>;
  /** The current signed roster. */
  roster(): SignedRosterDocument;
  /** A fresh verifier (CA + CRL file) for a member's service. */
  verifier(): Promise<PeerVerifier>;
  /** Revokes a member's certificate and rewrites the CRL. */
  revoke(id: string): Promise<void>;
  /** Enrolls another member. */
  enroll(id: string, role: Role): Promise<LocalMember>;
}

/** Options of {@link createLocalFederation}. */
export interface LocalFederationOptions {
  readonly federation?: string;
  readonly aggregator?: string;
  readonly nodes: readonly string[];
  readonly researchers?: readonly string[];
  /** scrypt cost of the throwaway CA key file (default: fast, since the key is thrown away). */
  readonly scryptN?: number;
}

/** Creates a CA under `dir` and enrolls the members through real CSRs. */
export async function createLocalFederation(dir: string, opts: LocalFederationOptions): Promise<LocalFederation> {
  const federation = opts.federation ?? 'demo';
  const ca = await initCa(join(dir, 'ca'), {
    federation,
    passphrase: toHex(randomBytes(16)),
    scrypt: { N: opts.scryptN ?? 1 << 12, r: 8, p: 1 },
  });
  const caPem = ca.certificate.pem;
  const members = new Map<string, LocalMember>();
  const enroll = async (id: string, role: Role): Promise<LocalMember> => {
    const mdir = join(dir, 'members', id);
    const req = await createMemberRequest({ federation, role, id, dir: mdir });
    const issued = await ca.sign(req.csrPem, { expectRole: role, expectId: id });
    await installCertificate(mdir, issued.certPem, issued.caPem);
    const tls = await loadTlsCredentials(mdir);
    const identitySecretKey = identitySecretFromKeyObject((await loadIdentityKey(mdir)).privateKey);
    const m: LocalMember = { id, role, dir: mdir, tls, identitySecretKey };
    members.set(id, m);
    return m;
  };
  await enroll(opts.aggregator ?? 'aggregator', 'aggregator');
  for (const n of opts.nodes) await enroll(n, 'node');
  for (const r of opts.researchers ?? ['researcher']) await enroll(r, 'researcher');
  let roster = await signRoster(ca);
  const crlFile = ca.crlPath;
  return {
    federation, dir, ca, caPem, crlFile, members,
    roster: () => roster,
    verifier: () => PeerVerifier.create({ caCert: caPem, crlFile }),
    revoke: async (id: string) => {
      await ca.revoke(id, 'key-compromise');
      roster = await signRoster(ca);
    },
    enroll: async (id: string, role: Role) => {
      const m = await enroll(id, role);
      roster = await signRoster(ca);
      return m;
    },
  };
}
