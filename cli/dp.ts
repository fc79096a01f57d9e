/**
 * `fedsec dp ...`: differential-privacy accounting and the node's budget ledger.
 * - `dp epsilon`: epsilon of T Poisson-subsampled Gaussian steps (RDP or PLD accountant);
 * - `dp calibrate`: smallest noise multiplier meeting a target (epsilon, delta);
 * - `dp budget set|show`: the node admin's per-dataset budget in the ledger file.
 * Also adds `bench dp` to the `bench` group. With --json, one JSON object is the last stdout line.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { calibrateNoiseMultiplier, computeEpsilon, type AccountantKind } from '../crypto/dp/index.ts';
import { runDpBench } from '../bench/dp.ts';
import { PrivacyLedger } from '../node/ledger/index.ts';
import { info, printJson } from './output.ts';

function num(field: string, v: string): number {
  const x = Number(v);
  if (v.trim() === '' || Number.isNaN(x)) throw new InvalidArgumentError(field, `expected a number, got ${JSON.stringify(v)}`);
  return x;
}

function accountantOf(v: string): AccountantKind {
  if (v !== 'rdp' && v !== 'pld') throw new InvalidArgumentError('accountant', `expected rdp or pld, got ${JSON.stringify(v)}`);
  return v;
}

/** Registers the `dp` command group and `bench dp`. */
export function registerDpCommands(program: Command): void {
  const dp = program.commands.find((c) => c.name() === 'dp') ?? program.command('dp').description('Differential privacy: accounting, calibration, budget ledger');

  dp.command('epsilon')
    .description('Epsilon of T steps of the Poisson-subsampled Gaussian mechanism at delta')
    .requiredOption('--sampling-rate <q>', 'Poisson sampling rate in (0, 1]')
    .requiredOption('--noise-multiplier <s>', 'noise std / L2 sensitivity')
    .requiredOption('--steps <T>', 'number of steps')
    .requiredOption('--delta <d>', 'target delta in (0, 1)')
    .option('--accountant <a>', 'rdp (exact RDP, improved conversion) or pld (tight)', 'rdp')
    .option('--discrete-noise', 'lattice discrete Gaussian noise (what fedsec nodes add): rigorous RDP accounting', false)
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action((o: { samplingRate: string; noiseMultiplier: string; steps: string; delta: string; accountant: string; discreteNoise: boolean; json: boolean }) => {
      const samplingRate = num('sampling-rate', o.samplingRate);
      const noiseMultiplier = num('noise-multiplier', o.noiseMultiplier);
      const steps = num('steps', o.steps);
      const delta = num('delta', o.delta);
      const accountant = accountantOf(o.accountant);
      const discreteNoise = o.discreteNoise === true;
      const r = computeEpsilon([{ kind: 'poissonGaussian', samplingRate, noiseMultiplier, steps, ...(discreteNoise ? { discreteNoise } : {}) }], delta, { accountant });
      info(`epsilon = ${r.epsilon} at delta = ${delta} (${accountant}${r.order === undefined ? '' : `, order ${r.order}`})`);
      if (o.json) printJson({ epsilon: r.epsilon, order: r.order ?? null, accountant, samplingRate, noiseMultiplier, steps, delta, discreteNoise });
    });

  dp.command('calibrate')
    .description('Smallest noise multiplier such that T steps at rate q meet (target epsilon, delta)')
    .requiredOption('--target-epsilon <e>', 'target epsilon')
    .requiredOption('--delta <d>', 'target delta in (0, 1)')
    .requiredOption('--sampling-rate <q>', 'Poisson sampling rate in (0, 1]')
    .requiredOption('--steps <T>', 'number of steps')
    .option('--accountant <a>', 'rdp or pld', 'rdp')
    .option('--discrete-noise', 'lattice discrete Gaussian noise (what fedsec nodes add): rigorous RDP accounting', false)
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action((o: { targetEpsilon: string; delta: string; samplingRate: string; steps: string; accountant: string; discreteNoise: boolean; json: boolean }) => {
      const targetEpsilon = num('target-epsilon', o.targetEpsilon);
      const delta = num('delta', o.delta);
      const samplingRate = num('sampling-rate', o.samplingRate);
      const steps = num('steps', o.steps);
      const accountant = accountantOf(o.accountant);
      const discreteNoise = o.discreteNoise === true;
      const r = calibrateNoiseMultiplier({ targetEpsilon, delta, samplingRate, steps, accountant, discreteNoise, tolerance: accountant === 'pld' ? 1e-4 : 1e-6 });
      info(`noise multiplier = ${r.noiseMultiplier} (epsilon ${r.epsilon} <= ${targetEpsilon} at delta ${delta}, ${accountant})`);
      if (o.json) printJson({ noiseMultiplier: r.noiseMultiplier, epsilon: r.epsilon, targetEpsilon, delta, samplingRate, steps, accountant, discreteNoise });
    });

  const budget = dp.command('budget').description("The node admin's per-dataset privacy budgets (ledger file)");
  budget
    .command('set')
    .description('Set the maximum (epsilon, delta) a dataset may ever spend')
    .requiredOption('--ledger <file>', 'ledger file of this node (created 0600 if absent)')
    .requiredOption('--dataset <name>', 'dataset name')
    .requiredOption('--max-epsilon <e>', 'maximum epsilon')
    .requiredOption('--delta <d>', 'delta in (0, 1)')
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action((o: { ledger: string; dataset: string; maxEpsilon: string; delta: string; json: boolean }) => {
      const ledger = PrivacyLedger.open(o.ledger);
      try {
        ledger.setBudget(o.dataset, { maxEpsilon: num('max-epsilon', o.maxEpsilon), delta: num('delta', o.delta) });
        const s = ledger.status(o.dataset);
        info(`dataset ${o.dataset}: max epsilon ${s.budget!.maxEpsilon} at delta ${s.budget!.delta}; spent ${s.spentEpsilon}, remaining ${s.remainingEpsilon}`);
        if (o.json) printJson(s);
      } finally {
        ledger.close();
      }
    });
  budget
    .command('show')
    .description('Show a dataset budget, spent and remaining epsilon')
    .requiredOption('--ledger <file>', 'ledger file of this node')
    .requiredOption('--dataset <name>', 'dataset name')
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action((o: { ledger: string; dataset: string; json: boolean }) => {
      const ledger = PrivacyLedger.open(o.ledger);
      try {
        const s = ledger.status(o.dataset);
        info(
          s.budget
            ? `dataset ${o.dataset}: max epsilon ${s.budget.maxEpsilon} at delta ${s.budget.delta}; spent ${s.spentEpsilon} in ${s.spends} releases, remaining ${s.remainingEpsilon}`
            : `dataset ${o.dataset}: no budget set`,
        );
        if (o.json) printJson(s);
      } finally {
        ledger.close();
      }
    });

  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('Benchmarks (figures vary with machine load)');
  if (!bench.commands.some((c) => c.name() === 'dp')) {
    bench
      .command('dp')
      .description('DP: 1M discrete Gaussian samples, RDP and PLD accounting of 10,000 steps, calibration, ledger spend latency')
      .option('--samples <n>', 'samples per sampler figure', '1000000')
      .option('--json', 'print one JSON object as the last stdout line', false)
      .action((o: { samples: string; json: boolean }) => {
        const samples = num('samples', o.samples);
        if (!Number.isSafeInteger(samples) || samples < 1) throw new InvalidArgumentError('samples', 'must be a positive integer');
        const r = runDpBench({ samples, progress: info });
        if (o.json) printJson(r);
      });
  }
}
