/**
 * `fedsec demo`: the whole federation on one machine over loopback mutual TLS (throwaway CA,
 * aggregator, three hospital nodes, a researcher), training a private logistic regression on
 * wdbc split non-identically across the nodes, next to a central non-private baseline.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { runDemo } from '../researcher/demo.ts';
import { info, printJson } from './output.ts';

/** Registers `fedsec demo`. */
export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('run a private federated experiment on wdbc across three local nodes over mutual TLS')
    .option('--secagg <scheme>', 'secure aggregation: masking | jl | off', 'masking')
    .option('--dp <mode>', 'differential privacy: distributed | local | central | off', 'distributed')
    .option('--rounds <n>', 'training rounds', '15')
    .option('--noise <sigma>', 'noise multiplier σ', '4')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { secagg: string; dp: string; rounds: string; noise: string; json: boolean }) => {
      if (!['masking', 'jl', 'off'].includes(o.secagg)) throw new InvalidArgumentError('--secagg', 'expected masking, jl or off');
      if (!['distributed', 'local', 'central', 'off'].includes(o.dp)) throw new InvalidArgumentError('--dp', 'expected distributed, local, central or off');
      const rounds = Number(o.rounds);
      if (!Number.isInteger(rounds) || rounds < 1 || rounds > 200) throw new InvalidArgumentError('--rounds', 'expected an integer in [1, 200]');
      const noise = Number(o.noise);
      if (!Number.isFinite(noise) || noise < 0) throw new InvalidArgumentError('--noise', 'expected a non-negative number');
      const r = await runDemo({
        secagg: o.secagg as 'masking' | 'jl' | 'off', dp: o.dp as 'distributed' | 'local' | 'central' | 'off', rounds, noiseMultiplier: noise,
        progress: info,
      });
      info('');
      info(`federated private model: test accuracy ${(r.accuracy * 100).toFixed(1)}%  (secure aggregation ${r.secagg}, DP ${r.dp})`);
      info(`central non-private baseline: test accuracy ${(r.baselineAccuracy * 100).toFixed(1)}%`);
      info(r.dp === 'off' ? 'privacy: no differential privacy' : `privacy spent: ε = ${r.epsilon.toFixed(2)}, δ = ${r.delta} per node dataset`);
      info(`total ${r.seconds.toFixed(1)} s`);
      if (o.json) {
        printJson({ accuracy: r.accuracy, baselineAccuracy: r.baselineAccuracy, epsilon: r.epsilon, delta: r.delta, seconds: r.seconds, secagg: r.secagg, dp: r.dp, rounds: r.rounds, nodes: r.nodes });
      }
    });
}
