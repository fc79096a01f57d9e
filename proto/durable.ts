/**
 * Durable file writes shared by the services: write to a temporary sibling, fsync it, rename it
 * over the target, then fsync the directory, so a crash at any instant leaves either the old or
 * the new content on disk and never a partial file.
 */
import { closeSync, constants as fsc, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toHex } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';

/** Synchronously and atomically replaces `path` with `data` (mode `mode`), durable on return. */
export function writeFileDurable(path: string, data: Uint8Array | string, mode = 0o600): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${toHex(randomBytes(6))}`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  fsyncDir(dirname(path));
}

/** fsyncs a directory so a rename inside it is durable (best effort on platforms that refuse). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, fsc.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Appends one line to `path` and fsyncs it before returning. */
export function appendLineDurable(path: string, line: string, mode = 0o600): void {
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, mode);
  try {
    const b = Buffer.from(line.endsWith('\n') ? line : line + '\n', 'utf8');
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Canonical JSON: object keys sorted, no whitespace. Used wherever JSON is hashed (audit
 * entries, policies), so equal values always hash alike. Rejects non-finite numbers.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map((x) => canonicalJson(x)).join(',') + ']';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(o[k])).join(',') + '}';
  }
  throw new TypeError(`canonicalJson: unsupported ${typeof v}`);
}
