// Child process for the ledger kill test: spends repeatedly and reports each release on stdout
// only after spend() returned (i.e. after the record's fsync). The parent SIGKILLs it at random.
import { writeSync } from 'node:fs';
import { PrivacyLedger } from '../../node/ledger/index.ts';
import { isFedsecError } from '../../common/errors.ts';

const [path, dataset, start] = process.argv.slice(2) as [string, string, string];
const ledger = PrivacyLedger.open(path);
writeSync(1, 'ready\n');
for (let i = Number(start); ; i++) {
  const id = `r${i}`;
  try {
    const r = ledger.spend(dataset, { kind: 'poissonGaussian', samplingRate: 0.02, noiseMultiplier: 1.3, steps: 3 + (i % 5) }, id);
    // "Release" the update: only now may it leave the node.
    writeSync(1, `released ${id} ${r.totalEpsilon}\n`);
  } catch (e) {
    if (isFedsecError(e, 'ERR_DP_BUDGET_EXCEEDED')) {
      writeSync(1, `refused ${id}\n`);
      process.exit(0);
    }
    throw e;
  }
}
