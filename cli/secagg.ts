/**
 * `fedsec secagg ...`: secure-aggregation commands. `modulus` runs the Joye-Libert modulus
 * ceremony: it generates N = pq, writes N and its fingerprint, and never writes, logs or
 * returns p and q (see crypto/jl/modulus.ts and SECURITY.md for who runs it and why).
 */
import { writeFileSync, renameSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { generateModulus, modulusToJson } from '../crypto/jl/index.ts';
import { info, printJson } from './output.ts';

/** Registers the `secagg` command group. */
export function registerSecaggCommands(program: Command): void {
  const secagg = program.commands.find((c) => c.name() === 'secagg') ?? program.command('secagg').description('Secure aggregation: key ceremonies and tools');
  secagg
    .command('modulus')
    .description('Joye-Libert modulus ceremony: generate N = pq (factors wiped, never written) and write N with its fingerprint')
    .option('--bits <bits>', 'modulus size in bits (2048 or more; 3072 available)', '2048')
    .requiredOption('--out <file>', 'where to write the modulus JSON')
    .option('--force', 'overwrite an existing file', false)
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action((opts: { bits: string; out: string; force: boolean; json: boolean }) => {
      const bits = Number(opts.bits);
      if (!Number.isSafeInteger(bits)) throw new InvalidArgumentError('bits', 'must be an integer');
      if (existsSync(opts.out) && !opts.force) throw new InvalidArgumentError('out', 'file exists (use --force to overwrite)');
      info(`generating a ${bits}-bit Joye-Libert modulus...`);
      const m = generateModulus(bits);
      const file = modulusToJson(m);
      const tmp = join(dirname(opts.out), `.${basename(opts.out)}.${process.pid}.tmp`);
      writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o644 });
      renameSync(tmp, opts.out);
      info(`wrote ${opts.out}; publish this fingerprint to every party out of band: ${file.fingerprint}`);
      if (opts.json) printJson({ bits: file.bits, fingerprint: file.fingerprint, out: opts.out });
    });
}
