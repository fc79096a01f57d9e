/** The node's durable privacy-budget ledger (write-ahead, fsynced, checksummed). */
export {
  LedgerCorruptError,
  LedgerIoError,
  LedgerLockedError,
  LedgerTornTailError,
  NoBudgetError,
  PrivacyLedger,
  type DatasetBudget,
  type DatasetStatus,
  type LedgerOptions,
  type SpendReceipt,
} from './ledger.ts';
