/** Typed errors of the dataset registry (codes `ERR_DATASET_*`). */
import { FedsecError } from '../../common/errors.ts';

/** Stable codes of dataset failures. */
export type DatasetErrorCode =
  /** The file is not well-formed CSV (unterminated quote, ragged row, empty header). */
  | 'ERR_DATASET_CSV'
  /** Cells break the schema (missing, non-numeric, unmapped target values); `details.issues` lists them. */
  | 'ERR_DATASET_SCHEMA'
  /** The file or the table exceeds a size limit. */
  | 'ERR_DATASET_TOO_LARGE'
  /** `add` with a tag that is already registered. */
  | 'ERR_DATASET_EXISTS'
  /** No dataset with that tag. */
  | 'ERR_DATASET_UNKNOWN'
  /** The stored copy no longer matches the hash recorded when it was added. */
  | 'ERR_DATASET_ALTERED'
  /** A split or statistic cannot be formed (too few rows, empty class, bad aggregate). */
  | 'ERR_DATASET_SPLIT';

/** One cell-level problem found while validating a table. */
export interface DatasetIssue {
  /** 1-based data row (the first row after the header is row 1); 0 for the header. */
  readonly row: number;
  /** 1-based line of the file the row starts on. */
  readonly line: number;
  /** Column name (empty when the row has too many cells). */
  readonly column: string;
  /** 1-based column index. */
  readonly columnIndex: number;
  /** What is wrong. Cell values are never echoed: they may be patient data. */
  readonly problem: 'missing' | 'non-numeric' | 'non-finite' | 'unmapped-target' | 'cell-count';
}

/** A dataset was refused; `code` says why. */
export class DatasetError extends FedsecError {
  constructor(code: DatasetErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}
