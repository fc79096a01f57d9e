/** Shared helpers of the PKI tests: throwaway directories, a fast KDF, real openssl. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { initCa, type CertificateAuthority, type InitCaOptions, createMemberRequest, type IssuedCertificate } from '../../pki/index.ts';
import type { Role } from '../../crypto/roster.ts';

/** Cheap scrypt parameters so tests stay fast (production default is N=2^15). */
export const TEST_SCRYPT = { N: 1 << 10, r: 8, p: 1 };
export const PASS = 'correct horse battery staple';

/** A fresh temporary directory and its cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fst-pki-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A CA in `dir/ca` with cheap KDF parameters. */
export function testCa(dir: string, opts: Partial<InitCaOptions> = {}): Promise<CertificateAuthority> {
  return initCa(join(dir, opts.federation ? `ca-${opts.federation}` : 'ca'), { federation: 'fed1', passphrase: PASS, scrypt: TEST_SCRYPT, ...opts });
}

/** Requests (in `dir/<id>`) and signs a member certificate. */
export async function enroll(ca: CertificateAuthority, dir: string, role: Role, id: string, extra: { notBefore?: Date; notAfter?: Date; ipAddresses?: string[] } = {}): Promise<IssuedCertificate & { memberDir: string }> {
  const memberDir = join(dir, id);
  const req = await createMemberRequest({ federation: ca.federation, role, id, dir: memberDir, ...(extra.ipAddresses ? { ipAddresses: extra.ipAddresses } : {}) });
  const issued = await ca.sign(req.csrPem, { expectRole: role, expectId: id, ...(extra.notBefore ? { notBefore: extra.notBefore } : {}), ...(extra.notAfter ? { notAfter: extra.notAfter } : {}) });
  return { ...issued, memberDir };
}

/** Runs openssl; resolves with exit code and combined output (never throws on failure). */
export async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  const r = await execa('openssl', args, { reject: false, timeout: 20_000, all: true });
  return { code: r.exitCode ?? -1, out: r.all ?? '' };
}
