/**
 * File helpers for key material and CA state: atomic writes (temporary file + rename, so a
 * crash or a failed validation never leaves a partial file), all-or-nothing directory creation,
 * 0600 modes for secrets, and an exclusive lock for CA mutations.
 */
import { constants as fsc } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from '../crypto/random.ts';
import { toHex } from '../crypto/bytes.ts';
import { PkiError } from './errors.ts';

/** Mode for private keys and other secrets. */
export const SECRET_MODE = 0o600;
/** Mode for public material (certificates, CRLs, rosters, configurations without secrets). */
export const PUBLIC_MODE = 0o644;

function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${toHex(randomBytes(6))}`);
}

/** Writes `data` to `path` atomically with `mode` (fsync, then rename over the target). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number = PUBLIC_MODE): Promise<void> {
  const tmp = tmpName(path);
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** One file of a directory written by {@link writeDirAtomic}. */
export interface DirFile {
  readonly name: string;
  readonly data: string | Uint8Array;
  readonly mode: number;
}

/**
 * Creates directory `dir` holding exactly `files`, all or nothing: the files are written to a
 * sibling temporary directory that is renamed into place. `dir` must not exist or be empty
 * (ERR_PKI_EXISTS otherwise), so existing keys are never overwritten.
 */
export async function writeDirAtomic(dir: string, files: readonly DirFile[], dirMode = 0o700): Promise<void> {
  await assertAbsentOrEmpty(dir);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = tmpName(dir);
  await mkdir(tmp, { mode: dirMode });
  try {
    for (const f of files) {
      await writeFile(join(tmp, f.name), f.data, { mode: f.mode, flag: 'wx' });
    }
    await rmdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof PkiError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new PkiError('ERR_PKI_EXISTS', `${dir} already exists and is not empty`);
    throw e;
  }
}

/** Throws ERR_PKI_EXISTS if `dir` exists and is not an empty directory. */
export async function assertAbsentOrEmpty(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new PkiError('ERR_PKI_EXISTS', `${dir} exists and is not a directory`);
    throw e;
  }
  if (entries.length > 0) throw new PkiError('ERR_PKI_EXISTS', `${dir} already exists and is not empty; refusing to overwrite`);
}

/** Reads a UTF-8 file; a missing file is ERR_PKI_NOT_FOUND naming `what`. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PkiError('ERR_PKI_NOT_FOUND', `${what} not found: ${path}`);
    throw e;
  }
}

/** True if `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` holding an exclusive lock file `<dir>/.lock` (created with O_EXCL). A lock left by
 * a process that no longer exists is taken over; a live holder gives ERR_PKI_LOCKED.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lock, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, SECRET_MODE);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
      if (attempt < 1 && Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid)) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      throw new PkiError('ERR_PKI_LOCKED', `the CA directory is locked by another fedsec process (pid ${Number.isSafeInteger(pid) ? pid : 'unknown'}); retry, or remove ${lock} if that process is gone`);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
