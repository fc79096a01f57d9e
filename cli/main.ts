/**
 * The `fedsec` command line. Each area registers its own command group from its own file;
 * this module only assembles them and maps errors to exit codes:
 * 0 success, 1 a typed fedsec error (message on stderr as `error [CODE]: ...`), 2 usage errors,
 * 70 an unexpected internal error.
 */
import { Command, CommanderError } from 'commander';
import { FedsecError } from '../common/errors.ts';
import { formatError } from './output.ts';
import { registerSecaggCommands } from './secagg.ts';
import { registerBenchCommands } from './bench.ts';
import { registerDatasetCommands } from './dataset.ts';
import { registerPkiCommands } from './pki.ts';
import { registerMeshCommands } from './mesh.ts';
import { registerDemoCommands } from './demo.ts';
import { registerNodeCommands } from './node.ts';
import { registerAggregatorCommands } from './aggregator.ts';
import { registerExperimentCommands } from './experiment.ts';
import { registerDpCommands } from './dp.ts';

/** Builds the CLI program with every command group registered. */
export async function buildProgram(): Promise<Command> {
  const program = new Command('fedsec')
    .description('Federated learning for hospitals: secure aggregation, differential privacy, federation PKI and WireGuard mesh.')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const registrars: Array<(p: Command) => void> = [
    // Command groups are added here, one line each.
    registerSecaggCommands,
    registerBenchCommands,
    registerDatasetCommands,
    registerPkiCommands,
    registerMeshCommands,
    registerDemoCommands,
    registerNodeCommands,
    registerAggregatorCommands,
    registerExperimentCommands,
    registerDpCommands,
  ];
  for (const r of registrars) r(program);
  return program;
}

/** Runs the CLI with `argv` (as in process.argv) and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit through here with code 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(formatError(e) + '\n');
    return e instanceof FedsecError ? 1 : 70;
  }
}
