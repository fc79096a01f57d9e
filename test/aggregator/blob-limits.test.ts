/**
 * Blob uploads reserve their announced size before the aggregator allocates it: a member may
 * hold only MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER uploads open, and a finished or failed upload
 * gives its reservation back. Real mutual-TLS gRPC on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest, toHex } from '../../crypto/index.ts';
import { blobChunks } from '../../proto/chunks.ts';
import { MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER } from '../../proto/limits.ts';
import { CHANNEL_OPTIONS, clientCredentials, federationClientConstructor, fromServiceError, type ChunkMsg, type UploadAckMsg } from '../../proto/rpc.ts';
import { startHarness, type Harness } from '../services/helpers.ts';

let dir: string;
let h: Harness;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fedsec-blobs-'));
  h = await startHarness(dir, []);
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

type UploadStream = grpc.ClientWritableStream<ChunkMsg>;

describe('aggregator blob upload limits', () => {
  it('refuses a third concurrent upload from one member with ERR_LIMIT, and frees the slots when uploads finish', async () => {
    expect(MAX_CONCURRENT_BLOB_UPLOADS_PER_PEER).toBe(2);
    const m = await h.fed.enroll('carol', 'researcher');
    const Ctor = federationClientConstructor();
    const raw = new Ctor(`127.0.0.1:${h.port}`, clientCredentials(m.tls, await h.fed.verifier()), { ...CHANNEL_OPTIONS });
    const open = (bytes: Uint8Array): { stream: UploadStream; rest: ChunkMsg[]; done: Promise<string> } => {
      const chunks = [...blobChunks(bytes, toHex(sha256Digest(bytes)))];
      let stream!: UploadStream;
      const done = new Promise<string>((resolve, reject) => {
        stream = (raw['UploadBlob'] as (cb: grpc.requestCallback<UploadAckMsg>) => UploadStream)((err, ack) => {
          if (err) reject(fromServiceError(err)); else resolve(ack!.hash);
        });
      });
      stream.write(chunks[0]!);
      return { stream, rest: chunks.slice(1), done };
    };
    const blob = (fill: number): Uint8Array => new Uint8Array(600 * 1024).fill(fill);
    const a = open(blob(1));
    const b = open(blob(2));
    // Give the server time to take both first chunks (and their reservations).
    await new Promise((r) => setTimeout(r, 300));
    const c = open(blob(3));
    c.stream.end();
    await expect(c.done).rejects.toMatchObject({ code: 'ERR_LIMIT' });
    for (const u of [a, b]) {
      for (const ch of u.rest) u.stream.write(ch);
      u.stream.end();
    }
    expect(await a.done).toBe(toHex(sha256Digest(blob(1))));
    expect(await b.done).toBe(toHex(sha256Digest(blob(2))));
    // Both reservations were returned: a new upload from the same member goes through.
    const d = open(blob(4));
    for (const ch of d.rest) d.stream.write(ch);
    d.stream.end();
    expect(await d.done).toBe(toHex(sha256Digest(blob(4))));
    raw.close();
  });
});
