import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetRegistry } from '../../node/datasets/index.ts';
import { seededRandomSource } from '../../crypto/random.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fedsec-ds-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('DatasetRegistry', () => {
  it('adds wdbc, lists, loads a reproducible split and removes it', () => {
    const dir = join(tmp(), 'datasets');
    const reg = new DatasetRegistry(dir);
    const rec = reg.add('data/wdbc.csv', { tag: 'breast-cancer', target: 'diagnosis', positive: 'M', negative: 'B', rng: seededRandomSource(new Uint8Array(32)) });
    expect(rec).toMatchObject({ tag: 'breast-cancer', rows: 569, features: 30, classCounts: [357, 212], positive: 'M', negative: 'B', testFraction: 0.2 });
    expect(rec.sha256).toBe('aa298c49bfd9c5469feab6c60bfcb64b1747a9766413e4735fcf76a2ed106d52');
    expect(reg.list().map((r) => r.tag)).toEqual(['breast-cancer']);
    // A second registry object over the same directory sees the same state.
    const again = new DatasetRegistry(dir);
    const a = reg.load('breast-cancer');
    const b = again.load('breast-cancer');
    expect(a.train.rows + a.test.rows).toBe(569);
    expect(a.test.rows).toBe(113); // round(0.2·357) + round(0.2·212)
    expect(Array.from(b.test.x)).toEqual(Array.from(a.test.x));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'registry.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, rec.file)).mode & 0o777).toBe(0o600);
    expect(reg.remove('breast-cancer').tag).toBe('breast-cancer');
    expect(reg.list()).toEqual([]);
    expect(() => reg.get('breast-cancer')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_UNKNOWN' }));
  });

  it('refuses duplicate tags, bad tags and invalid data (nothing is stored)', () => {
    const reg = new DatasetRegistry(tmp());
    reg.addCsvText('f,t\n1,0\n2,1\n3,0\n4,1\n5,0\n', { tag: 'toy', target: 't' });
    expect(() => reg.addCsvText('f,t\n1,0\n', { tag: 'toy', target: 't' })).toThrow(expect.objectContaining({ code: 'ERR_DATASET_EXISTS' }));
    expect(() => reg.addCsvText('f,t\n1,0\n', { tag: '../evil', target: 't' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => reg.addCsvText('f,t\n1,0\n,1\n', { tag: 'bad', target: 't' })).toThrow(expect.objectContaining({ code: 'ERR_DATASET_SCHEMA' }));
    expect(reg.list().map((r) => r.tag)).toEqual(['toy']);
    expect(() => reg.add(join(tmp(), 'nope.csv'), { tag: 'nope', target: 't' })).toThrow(expect.objectContaining({ code: 'ERR_DATASET_CSV' }));
  });

  it('detects a stored copy altered after registration', () => {
    const dir = tmp();
    const reg = new DatasetRegistry(dir);
    const rec = reg.addCsvText('f,t\n1,0\n2,1\n3,0\n4,1\n5,0\n', { tag: 'toy', target: 't', testFraction: 0.4 });
    const path = join(dir, rec.file);
    writeFileSync(path, readFileSync(path, 'utf8').replace('3,0', '3,1'));
    expect(() => reg.load('toy')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_ALTERED' }));
    rmSync(path);
    expect(() => reg.load('toy')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_ALTERED' }));
  });
});
