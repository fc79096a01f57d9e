/**
 * `fedsec experiment run experiment.json`: runs a federated experiment from a JSON description
 * with a progress bar on stderr and a final summary, and writes to --out the trained model
 * (model.onnx, parameters baked in), the per-round history (history.json), a readable report
 * (report.md) and the checkpoint used by --resume.
 *
 * experiment.json:
 *   { "id": "wdbc-1", "plan": { "builder": "logreg", "features": 30 }   (or "mlp" with "hidden", or { "file": "plan.bin" })
 *     "tags": ["breast-cancer"], "rounds": 15, "secagg": "masking", "minNodes": 3,
 *     "dp": { "mode": "distributed", "noiseMultiplier": 4, "clipNorm": 1, "delta": 1e-5 },   (or false)
 *     "trainingArgs": { "learningRate": 1, "epochs": 1, "batchSize": 64 } }
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { loadIdentityKey, loadTlsCredentials } from '../pki/member.ts';
import { identitySecretFromKeyObject } from '../node/agent.ts';
import { PeerVerifier } from '../pki/verifier.ts';
import { FederationClient } from '../proto/client.ts';
import { writeFileDurable } from '../proto/durable.ts';
import { progressLine } from '../researcher/demo.ts';
import { Experiment, type ExperimentConfig, type ExperimentResult } from '../researcher/experiment.ts';
import { bakeParameters } from '../researcher/model-export.ts';
import { logisticRegressionPlan, mlpPlan, planFromBundle } from '../researcher/plans/index.ts';
import { info, printJson } from './output.ts';

/** Builds an {@link ExperimentConfig} from experiment.json (plan builders or a bundle file). */
export function experimentFromJson(text: string, baseDir: string): ExperimentConfig {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError('experiment.json', 'not valid JSON');
  }
  const p = j['plan'] as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null) throw new InvalidArgumentError('plan', 'expected { builder, features[, hidden] } or { file }');
  const plan = p['file'] !== undefined
    ? new Uint8Array(readFileSync(join(baseDir, String(p['file']))))
    : p['builder'] === 'mlp'
      ? mlpPlan({ features: Number(p['features']), hidden: Number(p['hidden'] ?? 16), ...(p['name'] ? { name: String(p['name']) } : {}) })
      : p['builder'] === 'logreg'
        ? logisticRegressionPlan({ features: Number(p['features']), ...(p['name'] ? { name: String(p['name']) } : {}) })
        : (() => { throw new InvalidArgumentError('plan.builder', 'expected logreg or mlp'); })();
  return { ...(j as unknown as ExperimentConfig), plan, secagg: (j['secagg'] === 'off' ? false : j['secagg']) as ExperimentConfig['secagg'] };
}

/** A readable Markdown report of a finished experiment. */
export function experimentReport(exp: Experiment, r: ExperimentResult): string {
  const c = exp.config;
  const lines = [
    `# Experiment ${r.id}`, '',
    `- plan: \`${r.plan}\` (${exp.bundle.name}, ${exp.bundle.kind}, ${exp.bundle.numParams} parameters)`,
    `- datasets: ${c.tags.join(', ')}; secure aggregation: ${c.secagg || 'off'}; DP: ${c.dp === false ? 'off' : `${c.dp.mode}, σ = ${c.dp.noiseMultiplier}, C = ${c.dp.clipNorm}, δ = ${c.dp.delta}`}`,
    `- final federated test accuracy: ${(r.accuracy * 100).toFixed(2)}% (test loss ${r.testLoss.toFixed(4)})`,
    `- privacy: ${c.dp === false ? 'no differential privacy' : `largest ε spent over the node datasets ${r.epsilon.toFixed(3)} at δ = ${r.delta}`}`,
    '', '| round | kind | attempt | nodes | train loss | test accuracy | ε (max) | seconds |', '|---|---|---|---|---|---|---|---|',
    ...r.history.map((h) => `| ${h.round} | ${h.kind} | ${h.attempt} | ${h.participants.length} | ${h.trainLoss?.toFixed(4) ?? ''} | ${h.accuracy === undefined ? '' : (h.accuracy * 100).toFixed(1) + '%'} | ${h.epsilon ? Math.max(...Object.values(h.epsilon)).toFixed(3) : ''} | ${h.seconds.toFixed(1)} |`),
    '', r.standardization ? 'The model expects features standardized with the global means and standard deviations in history.json (`standardization`).' : '', '',
  ];
  return lines.join('\n');
}

/** Registers `fedsec experiment run`. */
export function registerExperimentCommands(program: Command): void {
  const ex = program.commands.find((c) => c.name() === 'experiment') ?? program.command('experiment').description('Researcher: federated experiments');
  ex.command('plan')
    .description('write the experiment\'s plan bundle (to hand to data managers) and print its SHA-256')
    .argument('<experiment.json>')
    .requiredOption('--out <file>', 'plan bundle file to write')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action((file: string, o: { out: string; json: boolean }) => {
      const exp = new Experiment(experimentFromJson(readFileSync(file, 'utf8'), join(file, '..')));
      writeFileDurable(o.out, exp.encodedPlan, 0o644);
      info(`plan ${exp.bundle.name}: sha256 ${exp.planHash} (${exp.bundle.numParams} parameters) written to ${o.out}`);
      if (o.json) printJson({ hash: exp.planHash, file: o.out });
    });
  const connect = async (o: { aggregator: string; member: string; crl: string }): Promise<FederationClient> => {
    const tls = await loadTlsCredentials(o.member);
    return new FederationClient({ address: o.aggregator, tls, verifier: await PeerVerifier.create({ caCert: tls.ca, crlFile: o.crl }) });
  };
  ex.command('status')
    .description('show an experiment\'s rounds and attempts as the aggregator recorded them')
    .argument('<id>', 'experiment id')
    .requiredOption('--aggregator <host:port>', 'aggregator address')
    .requiredOption('--member <dir>', 'PKI member directory of the researcher')
    .requiredOption('--crl <file>', 'federation CRL file')
    .option('--json', 'print the record as JSON on the last stdout line', false)
    .action(async (id: string, o: { aggregator: string; member: string; crl: string; json: boolean }) => {
      const client = await connect(o);
      try {
        const r = await client.call('GetExperiment', { id });
        for (const x of r['rounds'] as Array<Record<string, unknown>>) {
          info(`${String(x['tag']).padEnd(40)} ${String(x['status']).padEnd(9)} ${(x['contributors'] as string[]).length} contributor(s)${x['reason'] ? `  ${String(x['reason'])}` : ''}`);
        }
        if (o.json) printJson(r);
      } finally {
        client.close();
      }
    });
  ex.command('nodes')
    .description('list the nodes connected to the aggregator and their dataset tags')
    .requiredOption('--aggregator <host:port>', 'aggregator address')
    .requiredOption('--member <dir>', 'PKI member directory of the researcher')
    .requiredOption('--crl <file>', 'federation CRL file')
    .option('--json', 'print the list as JSON on the last stdout line', false)
    .action(async (o: { aggregator: string; member: string; crl: string; json: boolean }) => {
      const client = await connect(o);
      try {
        const r = await client.call('ListNodes', {});
        for (const n of r['nodes'] as Array<Record<string, unknown>>) info(`${String(n['id']).padEnd(24)} ${(n['datasets'] as string[]).join(', ')}  (since ${String(n['connectedAt'])})`);
        if (o.json) printJson(r);
      } finally {
        client.close();
      }
    });
  ex.command('run')
    .description('run an experiment described by a JSON file')
    .argument('<experiment.json>')
    .requiredOption('--aggregator <host:port>', 'aggregator address')
    .requiredOption('--member <dir>', 'PKI member directory of the researcher')
    .requiredOption('--crl <file>', 'federation CRL file')
    .option('--out <dir>', 'output directory', 'fedsec-out')
    .option('--resume', 'continue from <out>/checkpoint.json', false)
    .option('--jl-fingerprint <hex>', 'expected Joye-Libert modulus fingerprint (secagg jl)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (file: string, o: { aggregator: string; member: string; crl: string; out: string; resume: boolean; jlFingerprint?: string; json: boolean }) => {
      const config = experimentFromJson(readFileSync(file, 'utf8'), join(file, '..'));
      const tls = await loadTlsCredentials(o.member);
      const verifier = await PeerVerifier.create({ caCert: tls.ca, crlFile: o.crl });
      const client = new FederationClient({ address: o.aggregator, tls, verifier });
      mkdirSync(o.out, { recursive: true });
      const checkpoint = join(o.out, 'checkpoint.json');
      try {
        const exp = new Experiment(config);
        if (o.resume) exp.resume(checkpoint);
        info(`experiment ${config.id}: plan ${exp.planHash.slice(0, 16)}…, ${exp.totalRounds} rounds (standardization, training, evaluation)`);
        const identity = { id: tls.member.id, secretKey: identitySecretFromKeyObject((await loadIdentityKey(o.member)).privateKey) };
        const r = await exp.run(client, {
          checkpoint,
          jl: { identity, caCert: tls.ca.toString('utf8'), ...(o.jlFingerprint === undefined ? {} : { modulusFingerprint: o.jlFingerprint }) },
          onRound: (s) => info(progressLine(s, exp.totalRounds)),
          onEvent: (round, t, b) => { if (t === 'refusal' || t === 'dropout' || t === 'retry') info(`  round ${round}: ${t} ${JSON.stringify(b)}`); },
        });
        const model = bakeParameters(planFromBundle(exp.bundle).inferenceGraph, r.params);
        writeFileDurable(join(o.out, 'model.onnx'), model, 0o644);
        writeFileDurable(join(o.out, 'history.json'), JSON.stringify({ id: r.id, plan: r.plan, accuracy: r.accuracy, epsilon: r.epsilon, delta: r.delta, standardization: r.standardization, history: r.history }, null, 2), 0o644);
        writeFileDurable(join(o.out, 'report.md'), experimentReport(exp, r), 0o644);
        info(`done: federated test accuracy ${(r.accuracy * 100).toFixed(1)}%${config.dp === false ? '' : `, ε = ${r.epsilon.toFixed(2)} (δ = ${r.delta})`}; wrote ${join(o.out, 'model.onnx')}, history.json, report.md`);
        if (o.json) printJson({ id: r.id, accuracy: r.accuracy, epsilon: r.epsilon, delta: r.delta, rounds: r.history.length, out: o.out });
      } finally {
        client.close();
      }
    });
}
