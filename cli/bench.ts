/**
 * `fedsec bench ...`: benchmarks. `bench secagg --scheme jl|masking` runs a secure-aggregation
 * scheme end to end in one process (bench/jl.ts, bench/masking.ts) and prints its figures;
 * with --json, one JSON object as the last stdout line.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { runJlBench } from '../bench/jl.ts';
import { runMaskingBench } from '../bench/masking.ts';
import { runRoundBench } from '../bench/round.ts';
import { info, printJson } from './output.ts';

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isSafeInteger(x)) throw new InvalidArgumentError(name, 'must be an integer');
  return x;
}

/** Registers the `bench` command group. */
export function registerBenchCommands(program: Command): void {
  const bench = program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('Benchmarks (figures vary with machine load)');
  bench
    .command('round')
    .description('Federated rounds over loopback mTLS on synthetic data: a protected round and a plain round, timed in the same run')
    .requiredOption('--params <n>', 'model parameters (an MLP of about this size)')
    .option('--nodes <n>', 'number of nodes', '5')
    .option('--secagg <scheme>', 'masking or off', 'masking')
    .option('--dp <mode>', 'distributed | local | central | off', 'distributed')
    .option('--rows <n>', 'synthetic training rows per node', '8')
    .option('--repeats <n>', 'timed protected/plain pairs (the fastest of each is reported)', '2')
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action(async (o: { params: string; nodes: string; secagg: string; dp: string; rows: string; repeats: string; json: boolean }) => {
      if (o.secagg !== 'masking' && o.secagg !== 'off') throw new InvalidArgumentError('--secagg', 'expected masking or off (jl: not yet wired into the services)');
      if (!['distributed', 'local', 'central', 'off'].includes(o.dp)) throw new InvalidArgumentError('--dp', 'expected distributed, local, central or off');
      const r = await runRoundBench({
        params: int('params', o.params)!, nodes: int('nodes', o.nodes)!, rows: int('rows', o.rows)!, repeats: int('repeats', o.repeats)!,
        secagg: o.secagg, dp: o.dp as 'distributed' | 'local' | 'central' | 'off', progress: info,
      });
      info(`protected ${r.protectedRoundS.toFixed(2)} s vs plain ${r.plainRoundS.toFixed(2)} s (×${r.ratio.toFixed(2)}) for ${r.params} parameters, ${r.nodes} nodes`);
      if (o.json) printJson(r);
    });
  bench
    .command('secagg')
    .description('Secure aggregation round, end to end, in one process')
    .requiredOption('--scheme <scheme>', 'jl (Joye-Libert) or masking (pairwise masking)')
    .requiredOption('--params <n>', 'model parameters per node')
    .requiredOption('--nodes <n>', 'number of nodes')
    .option('--dropouts <d>', 'nodes that drop before submitting', '0')
    .option('--threshold <t>', 'dropout threshold (scheme default)')
    .option('--modulus-bits <b>', 'jl: modulus size (2048 default; 1024 allowed here only, insecure)')
    .option('--value-bits <v>', 'jl: bits per quantized value (default 16)')
    .option('--workers <w>', 'jl: worker threads (default: available parallelism)')
    .option('--neighbours <k>', 'masking: neighbours per node')
    .option('--bits <b>', 'masking: ring width in bits')
    .option('--json', 'print one JSON object as the last stdout line', false)
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
      const params = int('params', s('params'))!;
      const nodes = int('nodes', s('nodes'))!;
      const dropouts = int('dropouts', s('dropouts'));
      const threshold = int('threshold', s('threshold'));
      let result: object;
      if (o['scheme'] === 'jl') {
        const modulusBits = int('modulus-bits', s('modulusBits'));
        if (modulusBits !== undefined && modulusBits < 2048) info(`warning: ${modulusBits}-bit modulus is INSECURE (below 2048 bits); benchmark comparison only`);
        const valueBits = int('value-bits', s('valueBits'));
        const workers = int('workers', s('workers'));
        result = await runJlBench({
          params, nodes,
          ...(modulusBits === undefined ? {} : { modulusBits }),
          ...(valueBits === undefined ? {} : { valueBits }),
          ...(dropouts === undefined ? {} : { dropouts }),
          ...(threshold === undefined ? {} : { threshold }),
          ...(workers === undefined ? {} : { workers }),
        });
      } else if (o['scheme'] === 'masking') {
        const neighbours = int('neighbours', s('neighbours'));
        const bits = int('bits', s('bits'));
        result = runMaskingBench({
          params, nodes,
          ...(neighbours === undefined ? {} : { neighbours }),
          ...(dropouts === undefined ? {} : { dropouts }),
          ...(bits === undefined ? {} : { bits }),
          ...(threshold === undefined ? {} : { threshold }),
        });
      } else {
        throw new InvalidArgumentError('scheme', 'must be jl or masking');
      }
      if (o['json'] === true) printJson(result);
      else for (const [k, v] of Object.entries(result)) info(`${k}: ${String(v)}`);
    });
}
