/**
 * `fedsec aggregator run`: the federation's only server. Mutual TLS with the member
 * certificate of an enrolled aggregator, client certificates required, CRL reloaded every 2 s,
 * the CA-signed roster relayed to nodes for secure aggregation, state persisted in --state.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { AggregatorService } from '../aggregator/service.ts';
import { AggregatorStore } from '../aggregator/store.ts';
import { loadTlsCredentials } from '../pki/member.ts';
import { verifyRoster, type SignedRosterDocument } from '../pki/roster.ts';
import { PeerVerifier } from '../pki/verifier.ts';
import { parseModulus } from '../crypto/jl/index.ts';
import { info } from './output.ts';

/** Registers `fedsec aggregator run`. */
export function registerAggregatorCommands(program: Command): void {
  const agg = program.commands.find((c) => c.name() === 'aggregator') ?? program.command('aggregator').description('The aggregator service');
  agg.command('run')
    .description('serve the federation (gRPC over mutual TLS)')
    .requiredOption('--member <dir>', 'PKI member directory of the aggregator (role aggregator)')
    .requiredOption('--crl <file>', 'federation CRL file (reloaded every 2 s)')
    .requiredOption('--roster <file>', 'CA-signed roster (`fedsec pki roster`), re-read on every round')
    .option('--state <dir>', 'state directory (SQLite database and blobs)', 'fedsec-aggregator')
    .option('--listen <host:port>', 'listen address', '127.0.0.1:7443')
    .option('--min-participants <n>', 'never release a sum over fewer nodes', '3')
    .option('--stage-timeout <ms>', 'default stage timeout', '60000')
    .option('--jl-modulus <file>', 'Joye-Libert modulus (`fedsec secagg modulus`); enables --secagg jl')
    .option('--jl-fingerprint <hex>', 'expected fingerprint of the Joye-Libert modulus (published out of band)')
    .action(async (o: { member: string; crl: string; roster: string; state: string; listen: string; minParticipants: string; stageTimeout: string; jlModulus?: string; jlFingerprint?: string }) => {
      const m = /^(.+):(\d{1,5})$/.exec(o.listen);
      if (m === null) throw new InvalidArgumentError('--listen', 'expected host:port');
      const tls = await loadTlsCredentials(o.member);
      const verifier = await PeerVerifier.create({ caCert: tls.ca, crlFile: o.crl });
      const roster = (): SignedRosterDocument => {
        const doc = JSON.parse(readFileSync(o.roster, 'utf8')) as SignedRosterDocument;
        const crl = verifier.crl;
        verifyRoster(doc, tls.ca, crl === undefined ? {} : { crl });
        return doc;
      };
      roster();
      const store = await AggregatorStore.open(o.state);
      for (const r of store.recovered) info(`recovered: attempt ${r.tag} was interrupted by a restart and is marked aborted`);
      const jlModulus = o.jlModulus === undefined ? undefined : parseModulus(readFileSync(o.jlModulus, 'utf8'), o.jlFingerprint === undefined ? {} : { expectedFingerprint: o.jlFingerprint });
      const service = new AggregatorService({
        store, tls, verifier, roster, minParticipants: Number(o.minParticipants), stageTimeoutMs: Number(o.stageTimeout), log: info,
        ...(jlModulus === undefined ? {} : { jlModulus }),
      });
      const port = await service.start(m[1]!, Number(m[2]));
      info(`aggregator ${tls.member.id} listening on ${m[1]}:${port} (mutual TLS, client certificates required); Ctrl-C to stop`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await service.stop();
      store.close();
    });
}
