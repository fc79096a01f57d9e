/**
 * Node-side datasets: CSV parsing and schema validation, the file-backed registry, deterministic
 * splits (held-out test split, label-skewed partition for non-IID demos) and the local half of
 * federated standardization.
 */
export { parseCsv, MAX_CSV_BYTES, MAX_COLUMNS } from './csv.ts';
export type { CsvTable } from './csv.ts';
export { parseTabular, datasetToCsv, alignFeatures, selectRows, concatDatasets, classCounts, MAX_REPORTED_ISSUES, MISSING_MARKERS } from './schema.ts';
export type { TabularDataset, TargetMapping, ParseTabularOptions } from './schema.ts';
export { shuffleInPlace, permutation, trainTestSplit, labelSkewSplit } from './split.ts';
export type { LabelSkewOptions } from './split.ts';
export { localStatsVector, sumStatsVectors, standardizationFromSums, standardize, statsVectorLength } from './stats.ts';
export type { Standardization } from './stats.ts';
export { DatasetRegistry } from './registry.ts';
export type { DatasetRecord, AddDatasetOptions, LoadedDataset } from './registry.ts';
export { DatasetError } from './errors.ts';
export type { DatasetErrorCode, DatasetIssue } from './errors.ts';
