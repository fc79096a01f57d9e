/**
 * `fedsec pki ...`: the federation PKI for admins and members. The help texts are the manual:
 * `fedsec pki --help` shows the enrollment walkthrough, each subcommand its own options.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { ROLES, type Role } from '../crypto/roster.ts';
import type { CaAlgorithm, CertificateAuthority, RevocationReason } from '../pki/index.ts';
import { PkiError } from '../pki/errors.ts';
import { info, printJson } from './output.ts';

// The PKI library (and @peculiar/x509 under it) is loaded only when a pki command runs, so
// it does not slow down the start of every other fedsec command.
const lib = () => import('../pki/index.ts');
const files = () => import('../pki/files.ts');

/** Revocation reasons, repeated here so help texts need not load the library. */
const REVOCATION_REASONS = ['unspecified', 'key-compromise', 'affiliation-changed', 'superseded', 'cessation-of-operation', 'privilege-withdrawn'] as const;

const WALKTHROUGH = `
Enrolling a member, end to end:
  admin:  fedsec pki init --ca ./ca --federation fed1   (passphrase from $FEDSEC_CA_PASSPHRASE)
  member: fedsec pki request --federation fed1 --role node --id hospital-a --out ./hospital-a
          → send ./hospital-a/request.csr.pem to the admin (private keys stay in ./hospital-a, 0600)
  admin:  fedsec pki sign ./request.csr.pem --ca ./ca --role node --id hospital-a --out hospital-a.cert.pem
          → send hospital-a.cert.pem and ./ca/ca.crt.pem back
  member: fedsec pki install --dir ./hospital-a --cert hospital-a.cert.pem --ca-cert ca.crt.pem
Then: fedsec pki list, renew, revoke, crl (re-publish before nextUpdate), roster, verify.

The CA passphrase is read from the file named by --passphrase-file, else from the
FEDSEC_CA_PASSPHRASE environment variable (at least 8 characters). Never pass it as an argument.`;

async function passphrase(opts: { passphraseFile?: string }): Promise<string> {
  if (opts.passphraseFile !== undefined) {
    const text = await readFile(opts.passphraseFile, 'utf8').catch(() => {
      throw new PkiError('ERR_PKI_NOT_FOUND', `passphrase file not found: ${opts.passphraseFile}`);
    });
    return text.replace(/\r?\n$/, '');
  }
  const env = process.env['FEDSEC_CA_PASSPHRASE'];
  if (env !== undefined && env.length > 0) return env;
  throw new PkiError('ERR_PKI_BAD_PASSPHRASE', 'the CA passphrase is needed: set FEDSEC_CA_PASSPHRASE or pass --passphrase-file <file>');
}

async function unlockedCa(opts: { ca: string; passphraseFile?: string }): Promise<CertificateAuthority> {
  const { CertificateAuthority } = await lib();
  const ca = await CertificateAuthority.open(opts.ca);
  await ca.unlock(await passphrase(opts));
  return ca;
}

function role(v: string): Role {
  if (!(ROLES as readonly string[]).includes(v)) throw new PkiError('ERR_PKI_WRONG_ROLE', `role must be one of ${ROLES.join(', ')}`);
  return v as Role;
}

function intOpt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(name, 'must be an integer');
  return n;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Registers the `pki` command group. */
export function registerPkiCommands(program: Command): void {
  const pki = program.command('pki').description('Federation PKI: CA, enrollment, renewal, revocation, CRL, roster').addHelpText('after', WALKTHROUGH);

  pki
    .command('init')
    .description('Create the federation CA (key encrypted under the passphrase, file mode 0600)')
    .requiredOption('--ca <dir>', 'CA directory to create (must not exist or be empty)')
    .requiredOption('--federation <name>', 'federation name, e.g. fed1 (letters, digits, . _ -)')
    .option('--algorithm <alg>', 'CA key: ecdsa-p256 or ed25519', 'ecdsa-p256')
    .option('--validity-days <n>', 'CA certificate validity in days', '3650')
    .option('--member-validity-days <n>', 'default member certificate validity in days (max 825)', '365')
    .option('--crl-validity-hours <n>', 'CRL lifetime: services refuse peers once it passes; re-run `pki crl` before', '168')
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { ca: string; federation: string; algorithm: string; validityDays: string; memberValidityDays: string; crlValidityHours: string; passphraseFile?: string; json: boolean }) => {
      if (o.algorithm !== 'ecdsa-p256' && o.algorithm !== 'ed25519') throw new InvalidArgumentError('algorithm', 'must be ecdsa-p256 or ed25519');
      const { initCa } = await lib();
      const ca = await initCa(o.ca, {
        federation: o.federation,
        passphrase: await passphrase(o),
        algorithm: o.algorithm as CaAlgorithm,
        validityDays: intOpt('validity-days', o.validityDays)!,
        memberValidityDays: intOpt('member-validity-days', o.memberValidityDays)!,
        crlValidityHours: intOpt('crl-validity-hours', o.crlValidityHours)!,
      });
      info(`created CA for federation ${ca.federation} in ${o.ca}; distribute ${resolve(o.ca, 'ca.crt.pem')} (fingerprint SHA-256 ${ca.certificate.fingerprint256})`);
      if (o.json) printJson({ federation: ca.federation, ca: o.ca, algorithm: ca.config.algorithm, fingerprint256: ca.certificate.fingerprint256 });
    });

  pki
    .command('request')
    .description('Member: generate TLS (ECDSA P-256), identity (Ed25519) and WireGuard keys locally and a CSR')
    .requiredOption('--federation <name>', 'federation name given by the PKI admin')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--id <id>', 'member id, e.g. hospital-a')
    .option('--out <dir>', 'member directory to create (default ./<id>)')
    .option('--dns <name>', 'extra DNS name for a server certificate (repeatable)', collect, [])
    .option('--ip <addr>', 'extra IP address for a server certificate (repeatable)', collect, [])
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { federation: string; role: string; id: string; out?: string; dns: string[]; ip: string[]; json: boolean }) => {
      const dir = o.out ?? `./${o.id}`;
      const { createMemberRequest } = await lib();
      const r = await createMemberRequest({ federation: o.federation, role: role(o.role), id: o.id, dir, dnsNames: o.dns, ipAddresses: o.ip });
      info(`wrote keys (0600) and ${resolve(dir, 'request.csr.pem')}; send the CSR to the PKI admin. WireGuard public key: ${r.info.wireguardKey}`);
      if (o.json) printJson({ dir, csr: resolve(dir, 'request.csr.pem'), ...r.info });
    });

  pki
    .command('sign')
    .description('Admin: verify a member CSR and issue its certificate (role and id must match what you expect)')
    .argument('<csr>', 'the CSR file (PEM) received from the member')
    .requiredOption('--ca <dir>', 'CA directory')
    .requiredOption('--role <role>', 'role you expect the member to have; a CSR asking for another is refused')
    .requiredOption('--id <id>', 'member id you expect; a CSR for another id is refused')
    .option('--days <n>', 'validity in days (default: the CA setting, max 825)')
    .option('--out <file>', 'certificate output file (default ./<id>.cert.pem)')
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (csrFile: string, o: { ca: string; role: string; id: string; days?: string; out?: string; passphraseFile?: string; json: boolean }) => {
      const ca = await unlockedCa(o);
      const csr = await readFile(csrFile, 'utf8').catch(() => {
        throw new PkiError('ERR_PKI_NOT_FOUND', `CSR file not found: ${csrFile}`);
      });
      const days = intOpt('days', o.days);
      const issued = await ca.sign(csr, { expectRole: role(o.role), expectId: o.id, ...(days !== undefined ? { validityDays: days } : {}) });
      const out = o.out ?? `./${o.id}.cert.pem`;
      const { writeFileAtomic, PUBLIC_MODE } = await files();
      await writeFileAtomic(out, issued.certPem, PUBLIC_MODE);
      info(`issued ${o.role} certificate for ${o.id}, serial ${issued.record.serial}, valid until ${issued.record.notAfter}; send ${out} and ${resolve(o.ca, 'ca.crt.pem')} to the member`);
      if (o.json) printJson({ out, ...issued.record });
    });

  pki
    .command('install')
    .description('Member: check the signed certificate against your keys and the CA, and install both')
    .requiredOption('--dir <dir>', 'member directory created by `pki request`')
    .requiredOption('--cert <file>', 'certificate received from the admin')
    .requiredOption('--ca-cert <file>', 'the federation CA certificate (ca.crt.pem)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { dir: string; cert: string; caCert: string; json: boolean }) => {
      const { installCertificate } = await lib();
      const c = await installCertificate(o.dir, await readFile(o.cert, 'utf8'), await readFile(o.caCert, 'utf8'));
      info(`installed certificate ${c.serial} for ${c.member?.id ?? '?'} (valid until ${c.notAfter.toISOString()}); CA fingerprint must match what the admin announced`);
      if (o.json) printJson({ serial: c.serial, notAfter: c.notAfter.toISOString(), member: c.member });
    });

  pki
    .command('renew')
    .description('Admin: re-issue a current certificate before it expires (same keys, or a new CSR to rotate them)')
    .argument('<ref>', 'member id or certificate serial')
    .requiredOption('--ca <dir>', 'CA directory')
    .option('--csr <file>', 'new CSR from the member (key rotation); same id and role required')
    .option('--days <n>', 'validity in days')
    .option('--revoke-old', 'also revoke the replaced certificate (reason superseded)', false)
    .option('--out <file>', 'certificate output file (default ./<id>.cert.pem)')
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (ref: string, o: { ca: string; csr?: string; days?: string; revokeOld: boolean; out?: string; passphraseFile?: string; json: boolean }) => {
      const ca = await unlockedCa(o);
      const days = intOpt('days', o.days);
      const issued = await ca.renew(ref, { ...(o.csr ? { csr: await readFile(o.csr, 'utf8') } : {}), ...(days !== undefined ? { validityDays: days } : {}), revokeOld: o.revokeOld });
      const out = o.out ?? `./${issued.record.id}.cert.pem`;
      const { writeFileAtomic, PUBLIC_MODE } = await files();
      await writeFileAtomic(out, issued.certPem, PUBLIC_MODE);
      info(`renewed ${issued.record.id}: serial ${issued.record.serial}, valid until ${issued.record.notAfter}; wrote ${out}`);
      if (o.json) printJson({ out, ...issued.record });
    });

  pki
    .command('revoke')
    .description('Admin: revoke a member (all its certificates) or one serial, and publish a new CRL')
    .argument('<ref>', 'member id or certificate serial')
    .requiredOption('--ca <dir>', 'CA directory')
    .requiredOption('--reason <reason>', `one of ${REVOCATION_REASONS.join(', ')}`)
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (ref: string, o: { ca: string; reason: string; passphraseFile?: string; json: boolean }) => {
      if (!(REVOCATION_REASONS as readonly string[]).includes(o.reason)) throw new InvalidArgumentError('reason', `must be one of ${REVOCATION_REASONS.join(', ')}`);
      const ca = await unlockedCa(o);
      const r = await ca.revoke(ref, o.reason as RevocationReason);
      info(`revoked ${r.revoked.map((x) => `${x.id} (${x.serial})`).join(', ')}; publish ${ca.crlPath} to every service now (they reload it without restart), then re-run \`fedsec mesh plan\``);
      if (o.json) printJson({ revoked: r.revoked.map((x) => ({ id: x.id, serial: x.serial, reason: o.reason })), crl: ca.crlPath });
    });

  pki
    .command('crl')
    .description('Admin: issue a fresh CRL (run regularly, e.g. daily from cron, well before nextUpdate)')
    .requiredOption('--ca <dir>', 'CA directory')
    .option('--out <file>', 'also copy the CRL here')
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { ca: string; out?: string; passphraseFile?: string; json: boolean }) => {
      const ca = await unlockedCa(o);
      const pem = await ca.issueCrl();
      const { writeFileAtomic, PUBLIC_MODE } = await files();
      if (o.out) await writeFileAtomic(o.out, pem, PUBLIC_MODE);
      info(`wrote ${ca.crlPath}${o.out ? ` and ${o.out}` : ''}`);
      if (o.json) printJson({ crl: ca.crlPath });
    });

  pki
    .command('list')
    .description('List issued certificates with role, expiry and status (active, expired, revoked, superseded)')
    .requiredOption('--ca <dir>', 'CA directory')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { ca: string; json: boolean }) => {
      const { CertificateAuthority } = await lib();
      const ca = await CertificateAuthority.open(o.ca);
      const rows = await ca.list();
      if (o.json) {
        printJson({ federation: ca.federation, certificates: rows.map((r) => ({ id: r.id, role: r.role, serial: r.serial, notAfter: r.notAfter, status: r.status, ...(r.revoked ? { revoked: r.revoked } : {}) })) });
        return;
      }
      const lines = rows.map((r) => [r.id, r.role, r.status + (r.revoked ? ` (${r.revoked.reason})` : ''), r.notAfter.slice(0, 10), r.serial].join('\t'));
      process.stdout.write(['ID\tROLE\tSTATUS\tEXPIRES\tSERIAL', ...lines].join('\n') + '\n');
    });

  pki
    .command('roster')
    .description('Admin: sign the federation roster (active members, identity and WireGuard keys, mesh addresses)')
    .requiredOption('--ca <dir>', 'CA directory')
    .requiredOption('--out <file>', 'roster JSON to write')
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { ca: string; out: string; passphraseFile?: string; json: boolean }) => {
      const ca = await unlockedCa(o);
      const { loadMeshAllocations, signRoster } = await lib();
      const { writeFileAtomic, PUBLIC_MODE } = await files();
      const alloc = await loadMeshAllocations(ca.dir);
      const doc = await signRoster(ca, { mesh: new Map(Object.entries(alloc.members).map(([id, m]) => [id, { address: m.address, ...(m.endpoint ? { endpoint: m.endpoint } : {}) }])) });
      await writeFileAtomic(o.out, JSON.stringify(doc, null, 2) + '\n', PUBLIC_MODE);
      info(`wrote roster version ${doc.version} with ${doc.members.length} members to ${o.out}`);
      if (o.json) printJson({ out: o.out, version: doc.version, members: doc.members.length });
    });

  pki
    .command('verify')
    .description('Check a certificate as the services do: chain, validity, role and revocation')
    .argument('<cert>', 'certificate file (PEM)')
    .requiredOption('--ca-cert <file>', 'federation CA certificate')
    .requiredOption('--crl <file>', 'CRL file')
    .option('--role <role>', 'required role')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (certFile: string, o: { caCert: string; crl: string; role?: string; json: boolean }) => {
      const { PeerVerifier } = await lib();
      const v = await PeerVerifier.fromFiles({ caFile: o.caCert, crlFile: o.crl });
      const p = v.verify(await readFile(certFile, 'utf8'), o.role ? { roles: [role(o.role)] } : {});
      info(`OK: ${p.role} ${p.id} of federation ${p.federation}, serial ${p.serial}, valid until ${p.notAfter.toISOString()}`);
      if (o.json) printJson({ federation: p.federation, role: p.role, id: p.id, serial: p.serial, notAfter: p.notAfter.toISOString() });
    });
}
