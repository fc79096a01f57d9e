import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { DatasetError, MAX_REPORTED_ISSUES, classCounts, parseCsv, parseTabular, type DatasetIssue } from '../../node/datasets/index.ts';

function schemaIssues(fn: () => unknown): { error: DatasetError; issues: DatasetIssue[] } {
  try {
    fn();
  } catch (e) {
    if (e instanceof DatasetError) return { error: e, issues: (e.details?.['issues'] ?? []) as DatasetIssue[] };
    throw e;
  }
  throw new Error('expected a DatasetError');
}

describe('parseCsv', () => {
  it('reads quoted fields, escaped quotes, embedded newlines, CRLF, a BOM and trailing blank lines', () => {
    const t = parseCsv('\ufeffa,b,c\r\n1,"x, y",3\r\n"multi\nline","say ""hi""",\n\n');
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.records).toEqual([
      { line: 2, cells: ['1', 'x, y', '3'] },
      { line: 3, cells: ['multi\nline', 'say "hi"', ''] },
    ]);
  });

  it('names the line of malformed records', () => {
    expect(() => parseCsv('a,b\n1,2\n3,"oops\n')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_CSV', details: { line: 3 } }));
    expect(() => parseCsv('a,b\n1,2"x\n')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_CSV', details: { line: 2 } }));
    expect(() => parseCsv('a,b\n"1"x,2\n')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_CSV' }));
    expect(() => parseCsv('')).toThrow(expect.objectContaining({ code: 'ERR_DATASET_CSV' }));
  });
});

describe('parseTabular', () => {
  it('reads wdbc: 569 rows, 30 numeric features, M → 1 (212) and B → 0 (357)', () => {
    const ds = parseTabular(readFileSync('data/wdbc.csv', 'utf8'), { target: 'diagnosis', positive: 'M', negative: 'B' });
    expect(ds.rows).toBe(569);
    expect(ds.features).toBe(30);
    expect(ds.featureNames[0]).toBe('radius_mean');
    expect(ds.featureNames).not.toContain('diagnosis');
    expect(classCounts(ds)).toEqual([357, 212]);
    expect(ds.x[0]).toBeCloseTo(17.99, 10);
    expect(ds.y[0]).toBe(1);
    expect(ds.labels).toEqual({ positive: 'M', negative: 'B' });
  });

  it('names row, line and column of missing and non-numeric cells without echoing values', () => {
    const csv = 'id,age,weight,label\n1,34,70,1\n2,,81,0\n3,41,heavy-SECRET,1\n4,NA,60,0\n';
    const { error, issues } = schemaIssues(() => parseTabular(csv, { target: 'label', exclude: ['id'] }));
    expect(error.code).toBe('ERR_DATASET_SCHEMA');
    expect(issues).toEqual([
      { row: 2, line: 3, column: 'age', columnIndex: 2, problem: 'missing' },
      { row: 3, line: 4, column: 'weight', columnIndex: 3, problem: 'non-numeric' },
      { row: 4, line: 5, column: 'age', columnIndex: 2, problem: 'missing' },
    ]);
    expect(error.message).toMatch(/row 2 \(line 3\), column 'age'/);
    expect(JSON.stringify(error.toJSON())).not.toContain('SECRET');
  });

  it('reports unmapped target values, ragged rows, infinities and a missing target column', () => {
    const csv = 'f,t\n1,M\n2,B\n3,X\n4\n1e999,M\n';
    const { issues } = schemaIssues(() => parseTabular(csv, { target: 't', positive: 'M', negative: 'B' }));
    expect(issues.map((i) => [i.row, i.column, i.problem])).toEqual([
      [3, 't', 'unmapped-target'],
      [4, 't', 'cell-count'],
      [5, 'f', 'non-finite'],
    ]);
    expect(() => parseTabular('a,b\n1,2\n', { target: 'c' })).toThrow(expect.objectContaining({ code: 'ERR_DATASET_SCHEMA' }));
    expect(() => parseTabular('a,a\n1,2\n', { target: 'a' })).toThrow(expect.objectContaining({ code: 'ERR_DATASET_CSV' }));
  });

  it('maps targets: 0/1 as is, explicit positive (negative inferred), two labels in sorted order, more than two refused', () => {
    expect(Array.from(parseTabular('f,t\n1,0\n2,1\n3,1.0\n', { target: 't' }).y)).toEqual([0, 1, 1]);
    const pos = parseTabular('f,t\n1,yes\n2,no\n', { target: 't', positive: 'yes' });
    expect(Array.from(pos.y)).toEqual([1, 0]);
    expect(pos.labels).toEqual({ positive: 'yes', negative: 'no' });
    const auto = parseTabular('f,t\n1,M\n2,B\n', { target: 't' });
    expect(auto.labels).toEqual({ positive: 'M', negative: 'B' });
    expect(Array.from(auto.y)).toEqual([1, 0]);
    const { issues } = schemaIssues(() => parseTabular('f,t\n1,a\n2,b\n3,c\n', { target: 't' }));
    expect(issues.every((i) => i.problem === 'unmapped-target')).toBe(true);
  });

  it('caps the issue list and reports the total', () => {
    const rows = Array.from({ length: 120 }, (_, i) => `,${i % 2}`).join('\n');
    const { error, issues } = schemaIssues(() => parseTabular(`f,t\n${rows}\n`, { target: 't' }));
    expect(error.code).toBe('ERR_DATASET_SCHEMA');
    expect(issues).toHaveLength(MAX_REPORTED_ISSUES);
    expect(error.details?.['total']).toBe(120);
    expect(issues[49]).toMatchObject({ row: 50, line: 51, column: 'f', problem: 'missing' });
  });
});

describe('parseCsv round trip', () => {
  it('property: any table of strings, written with RFC 4180 quoting, parses back identically', () => {
    const cell = fc.string({ unit: fc.constantFrom('a', 'Z', '7', ' ', ',', '"', '\n', '\r', 'é', '.'), maxLength: 6 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }).chain((w) => fc.array(fc.array(cell, { minLength: w, maxLength: w }), { minLength: 1, maxLength: 6 })), fc.boolean(), (rows, crlf) => {
        // Empty cells are quoted so a one-column empty record is not a blank line (which the reader skips).
        const q = (c: string) => (/[",\r\n]/.test(c) || c === '' ? `"${c.replace(/"/g, '""')}"` : c);
        const eol = crlf ? '\r\n' : '\n';
        const text = rows.map((r) => r.map(q).join(',')).join(eol) + eol;
        const t = parseCsv(text);
        expect([t.header, ...t.records.map((r) => r.cells)]).toEqual(rows);
      }),
      { numRuns: 200, seed: 5 },
    );
  });
});
