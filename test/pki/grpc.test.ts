/**
 * The pattern the federation services use with grpc-js, which has no server-side CRL option:
 * mutual TLS from fedsec credentials, then a call-level PeerVerifier check on
 * `call.getAuthContext().sslPeerCertificate` (role, revocation with a reloaded CRL), and the
 * client checking the server's role with `checkServerIdentity`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { installCertificate, loadTlsCredentials, PeerVerifier, type CertificateAuthority } from '../../pki/index.ts';
import { isFedsecError } from '../../common/errors.ts';
import { enroll, tempDir, testCa } from './helpers.ts';

const service: grpc.ServiceDefinition = {
  hello: {
    path: '/fedsec.test.Echo/Hello',
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (v: Buffer) => v,
    responseSerialize: (v: Buffer) => v,
    responseDeserialize: (v: Buffer) => v,
  },
};
const Client = grpc.makeGenericClientConstructor(service, 'Echo');

let dir: string;
let cleanup: () => Promise<void>;
let ca: CertificateAuthority;
let server: grpc.Server;
let port: number;
let crlFile: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  ca = await testCa(dir);
  crlFile = join(dir, 'crl.pem');
  await copyFile(ca.crlPath, crlFile);
  const agg = await enroll(ca, dir, 'aggregator', 'agg');
  await installCertificate(agg.memberDir, agg.certPem, agg.caPem);
  const creds = await loadTlsCredentials(agg.memberDir);
  const verifier = await PeerVerifier.fromFiles({ caFile: join(agg.memberDir, 'ca.pem'), crlFile, roles: ['node'] });
  server = new grpc.Server();
  server.addService(service, {
    hello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      void verifier.refresh().catch(() => false).then(() => {
        const cert = call.getAuthContext()?.sslPeerCertificate;
        if (!cert) return cb({ code: grpc.status.UNAUTHENTICATED, details: 'no client certificate' });
        const peer = verifier.verify(cert);
        cb(null, Buffer.from(`hello ${peer.role} ${peer.id}: ${call.request.toString()}`));
      }).catch((e: unknown) => cb({ code: grpc.status.PERMISSION_DENIED, details: isFedsecError(e) ? e.code : 'denied' }));
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(creds.ca, [{ private_key: creds.key, cert_chain: creds.cert }], true), (e, p) => (e ? reject(e) : resolve(p))),
  );
});

afterAll(async () => {
  server?.forceShutdown();
  await cleanup();
});

async function call(memberDir: string): Promise<string> {
  const creds = await loadTlsCredentials(memberDir);
  const v = await PeerVerifier.fromFiles({ caFile: join(memberDir, 'ca.pem'), crlFile });
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(creds.ca, creds.key, creds.cert, { checkServerIdentity: v.checkServerIdentity(['aggregator']) }), {
    // Identity comes from the certificate's role URI, not the host name; the override only keeps
    // an IP literal out of the TLS SNI field.
    'grpc.ssl_target_name_override': 'agg',
  });
  try {
    return await new Promise<string>((resolve) =>
      client.makeUnaryRequest('/fedsec.test.Echo/Hello', (x: Buffer) => x, (x: Buffer) => x, Buffer.from('ping'), { deadline: Date.now() + 15_000 }, (err: grpc.ServiceError | null, res?: Buffer) =>
        resolve(err ? `${grpc.status[err.code]} ${err.details}` : res!.toString()),
      ),
    );
  } finally {
    client.close();
  }
}

describe('grpc-js with fedsec PKI (call-level verification)', () => {
  it('serves an enrolled node, refuses wrong roles, and refuses a revoked node after a CRL reload', async () => {
    const n = await enroll(ca, dir, 'node', 'hospital-a');
    await installCertificate(n.memberDir, n.certPem, n.caPem);
    expect(await call(n.memberDir)).toBe('hello node hospital-a: ping');
    const r = await enroll(ca, dir, 'researcher', 'alice');
    await installCertificate(r.memberDir, r.certPem, r.caPem);
    expect(await call(r.memberDir)).toBe('PERMISSION_DENIED ERR_PKI_WRONG_ROLE');
    await ca.revoke('hospital-a', 'key-compromise');
    await copyFile(ca.crlPath, crlFile);
    expect(await call(n.memberDir)).toBe('PERMISSION_DENIED ERR_PKI_REVOKED');
  });
});
