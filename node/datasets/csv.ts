/**
 * A strict RFC 4180 CSV reader: comma-separated, optional double-quoted fields with `""`
 * escapes, LF or CRLF line ends, optional UTF-8 BOM, trailing blank lines ignored.
 */
import { DatasetError } from './errors.ts';

/** Largest CSV accepted (bytes of UTF-8 text). */
export const MAX_CSV_BYTES = 256 * 1024 * 1024;
/** Largest number of columns accepted. */
export const MAX_COLUMNS = 10_000;

/** Parsed CSV: the header and the data records, each with the file line it starts on. */
export interface CsvTable {
  readonly header: readonly string[];
  readonly records: readonly { readonly line: number; readonly cells: readonly string[] }[];
}

/** Parses CSV text. Throws `ERR_DATASET_CSV` naming the line of a malformed record. */
export function parseCsv(text: string): CsvTable {
  if (typeof text !== 'string') throw new DatasetError('ERR_DATASET_CSV', 'expected CSV text');
  if (text.length > MAX_CSV_BYTES) throw new DatasetError('ERR_DATASET_TOO_LARGE', `CSV exceeds ${MAX_CSV_BYTES} bytes`, { limit: MAX_CSV_BYTES });
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  const records: { line: number; cells: string[] }[] = [];
  let line = 1;
  while (i < n) {
    const startLine = line;
    const startPos = i;
    const cells: string[] = [];
    let field = '';
    let endOfRecord = false;
    while (!endOfRecord) {
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new DatasetError('ERR_DATASET_CSV', `line ${startLine}: unterminated quoted field`, { line: startLine });
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new DatasetError('ERR_DATASET_CSV', `line ${line}: characters after a closing quote`, { line });
        }
      } else {
        const start = i;
        while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') throw new DatasetError('ERR_DATASET_CSV', `line ${line}: quote inside an unquoted field`, { line });
          i++;
        }
        field = text.slice(start, i);
      }
      cells.push(field);
      field = '';
      if (cells.length > MAX_COLUMNS) throw new DatasetError('ERR_DATASET_TOO_LARGE', `line ${startLine}: more than ${MAX_COLUMNS} columns`, { line: startLine });
      if (i >= n) { endOfRecord = true; break; }
      const c = text[i]!;
      if (c === ',') { i++; continue; }
      if (c === '\r') { i++; if (text[i] === '\n') i++; } else i++;
      line++;
      endOfRecord = true;
    }
    // Skip blank lines (e.g. trailing newlines); a quoted empty field `""` is a real record.
    const blank = cells.length === 1 && cells[0] === '' && text[startPos] !== '"';
    if (!blank) records.push({ line: startLine, cells });
  }
  if (records.length === 0) throw new DatasetError('ERR_DATASET_CSV', 'the file is empty (no header)');
  const [head, ...rest] = records;
  return { header: head!.cells, records: rest };
}
