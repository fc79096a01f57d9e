/**
 * `fedsec node dataset ...`: the node's dataset registry. `add` validates a CSV (numeric
 * features, a binary target, every missing or non-numeric cell reported by row and column) and
 * registers a hashed copy; `list`, `show` and `remove` manage it. The registry lives in
 * `<dir>/datasets` where `<dir>` is `--dir`, else $FEDSEC_NODE_DIR, else `./fedsec-node`.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { DatasetError, DatasetRegistry, type DatasetIssue, type DatasetRecord } from '../node/datasets/index.ts';
import { info, printJson } from './output.ts';

function registryOf(dir: string | undefined): DatasetRegistry {
  return new DatasetRegistry(join(dir ?? process.env['FEDSEC_NODE_DIR'] ?? 'fedsec-node', 'datasets'));
}

function describeRecord(r: DatasetRecord): string {
  return `${r.tag}: ${r.rows} rows (${r.classCounts[1]} × '${r.positive}' → 1, ${r.classCounts[0]} × '${r.negative}' → 0), ${r.features} features, target '${r.target}', test fraction ${r.testFraction}, sha256 ${r.sha256}`;
}

/** Registers `node dataset add|list|show|remove` (creating the `node` group if needed). */
export function registerDatasetCommands(program: Command): void {
  const node = program.commands.find((c) => c.name() === 'node') ?? program.command('node').description('Data-holding node: datasets, plans, training service');
  const ds = node.commands.find((c) => c.name() === 'dataset') ?? node.command('dataset').description('Register and inspect local datasets');
  const dirOpt = ['--dir <dir>', 'node state directory (default $FEDSEC_NODE_DIR or ./fedsec-node)'] as const;

  ds.command('add')
    .description('validate a CSV and register it under a tag')
    .argument('<csv>', 'CSV file with a header row')
    .requiredOption('--tag <tag>', 'dataset tag, e.g. breast-cancer')
    .requiredOption('--target <column>', 'binary target column, e.g. diagnosis')
    .option('--positive <value>', 'target value meaning class 1 (default: 1, or the later of two labels in sorted order)')
    .option('--negative <value>', 'target value meaning class 0 (default: the other value)')
    .option('--exclude <columns>', 'comma-separated columns to ignore (ids, free text)')
    .option('--test-fraction <f>', 'held-out fraction for evaluation', '0.2')
    .option('--description <text>', 'free-text description')
    .option(...dirOpt)
    .option('--json', 'print the record as JSON on the last stdout line', false)
    .action((csv: string, o: { tag: string; target: string; positive?: string; negative?: string; exclude?: string; testFraction: string; description?: string; dir?: string; json: boolean }) => {
      const reg = registryOf(o.dir);
      let rec: DatasetRecord;
      try {
        rec = reg.add(csv, {
          tag: o.tag,
          target: o.target,
          ...(o.positive === undefined ? {} : { positive: o.positive }),
          ...(o.negative === undefined ? {} : { negative: o.negative }),
          ...(o.exclude === undefined ? {} : { exclude: o.exclude.split(',').map((s) => s.trim()).filter((s) => s !== '') }),
          testFraction: Number(o.testFraction),
          ...(o.description === undefined ? {} : { description: o.description }),
        });
      } catch (e) {
        if (e instanceof DatasetError && Array.isArray(e.details?.['issues'])) {
          for (const i of e.details['issues'] as DatasetIssue[]) info(`  row ${i.row} (line ${i.line}), column '${i.column}' (#${i.columnIndex}): ${i.problem}`);
          const total = e.details['total'];
          if (typeof total === 'number' && total > (e.details['issues'] as unknown[]).length) info(`  ... and ${total - (e.details['issues'] as unknown[]).length} more`);
        }
        throw e;
      }
      info(`registered ${describeRecord(rec)}`);
      if (o.json) printJson(rec);
    });

  ds.command('list')
    .description('list registered datasets')
    .option(...dirOpt)
    .option('--json', 'print the records as JSON on the last stdout line', false)
    .action((o: { dir?: string; json: boolean }) => {
      const recs = registryOf(o.dir).list();
      if (recs.length === 0) info('no datasets registered');
      for (const r of recs) info(describeRecord(r));
      if (o.json) printJson({ datasets: recs });
    });

  ds.command('show')
    .description('show one dataset record (re-verifies the stored copy)')
    .argument('<tag>')
    .option(...dirOpt)
    .option('--json', 'print the record as JSON on the last stdout line', false)
    .action((tag: string, o: { dir?: string; json: boolean }) => {
      const loaded = registryOf(o.dir).load(tag);
      info(describeRecord(loaded.record));
      info(`split: ${loaded.train.rows} train / ${loaded.test.rows} test rows; features: ${loaded.record.featureNames.join(', ')}`);
      if (o.json) printJson({ ...loaded.record, trainRows: loaded.train.rows, testRows: loaded.test.rows });
    });

  ds.command('remove')
    .description('unregister a dataset and delete its stored copy')
    .argument('<tag>')
    .option(...dirOpt)
    .option('--json', 'print the removed record as JSON on the last stdout line', false)
    .action((tag: string, o: { dir?: string; json: boolean }) => {
      const rec = registryOf(o.dir).remove(tag);
      info(`removed ${rec.tag}`);
      if (o.json) printJson({ removed: rec.tag });
    });
}
