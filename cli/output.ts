/** Output helpers shared by CLI commands. */
import { FedsecError } from '../common/errors.ts';

/** Prints a value as one line of JSON on stdout (the last line, by convention, for `--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

/** Human-readable diagnostics go to stderr so stdout stays machine-readable. */
export function info(message: string): void {
  process.stderr.write(message + '\n');
}

/** Formats an error for the terminal: `error [CODE]: message`. Never prints stack traces of FedsecErrors. */
export function formatError(e: unknown): string {
  if (e instanceof FedsecError) return `error [${e.code}]: ${e.message}`;
  if (e instanceof Error) return `error [ERR_INTERNAL]: ${e.message}`;
  return `error [ERR_INTERNAL]: ${String(e)}`;
}
