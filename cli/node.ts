/**
 * `fedsec node ...` for a hospital's data manager: training-plan approval by SHA-256
 * (`plan list|show|approve|reject`), the audit log (`audit verify|show`), the node policy
 * (`policy show|set`) and the node service itself (`run`, which dials out to the aggregator and
 * opens no port). State lives in `--dir`, else $FEDSEC_NODE_DIR, else ./fedsec-node.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { AuditLog } from '../node/audit.ts';
import { PlanStore } from '../node/plans.ts';
import { loadPolicy, parsePolicy, savePolicy } from '../node/policy.ts';
import { nodePaths, startNodeService } from '../node/service.ts';
import { info, printJson } from './output.ts';

function dirOf(o: { dir?: string }): string {
  return o.dir ?? process.env['FEDSEC_NODE_DIR'] ?? 'fedsec-node';
}

function stores(o: { dir?: string }): { audit: AuditLog; plans: PlanStore } {
  const p = nodePaths(dirOf(o));
  const audit = new AuditLog(p.audit);
  return { audit, plans: new PlanStore(p.plans, audit) };
}

/** Registers `node plan|audit|policy|run` (creating the `node` group if needed). */
export function registerNodeCommands(program: Command): void {
  const node = program.commands.find((c) => c.name() === 'node') ?? program.command('node').description('Data-holding node: datasets, plans, training service');
  const dirOpt = ['--dir <dir>', 'node state directory (default $FEDSEC_NODE_DIR or ./fedsec-node)'] as const;

  const plan = node.command('plan').description('Review and approve training plans by SHA-256');
  plan.command('list').description('list received plans and their status').option(...dirOpt).option('--json', 'JSON on the last stdout line', false)
    .action((o: { dir?: string; json: boolean }) => {
      const list = stores(o).plans.list();
      for (const r of list) info(`${r.hash}  ${r.status.padEnd(8)}  ${r.name} (${r.kind}, ${r.numParams} parameters) from ${r.from}, received ${r.receivedAt}`);
      if (list.length === 0) info('no plans received yet');
      if (o.json) printJson({ plans: list });
    });
  plan.command('add').description('receive a plan bundle delivered out of band (it stays pending until approved)').argument('<file>').option(...dirOpt).option('--from <who>', 'who sent it', 'researcher').option('--json', 'JSON on the last stdout line', false)
    .action((file: string, o: { dir?: string; from: string; json: boolean }) => {
      const r = stores(o).plans.receive(new Uint8Array(readFileSync(file)), o.from);
      info(`received ${r.hash} (${r.name}, ${r.kind}, ${r.numParams} parameters): ${r.status}`);
      if (o.json) printJson({ plan: r });
    });
  plan.command('show').description('show a plan: header, graphs, sizes').argument('<hash>', 'SHA-256 (or a unique prefix of at least 8 hex digits)').option(...dirOpt).option('--json', 'JSON on the last stdout line', false)
    .action((hash: string, o: { dir?: string; json: boolean }) => {
      const { record, bundle } = stores(o).plans.show(hash);
      info(`plan ${record.hash}\n  name ${record.name}, kind ${record.kind}, ${record.numParams} parameters, status ${record.status}`);
      for (const [k, v] of Object.entries(bundle.meta)) info(`  meta ${k} = ${String(v)}`);
      for (const [k, v] of Object.entries(bundle.sections)) info(`  section ${k}: ${v.length} bytes`);
      if (o.json) printJson({ plan: record });
    });
  plan.command('approve').description('approve a plan by its SHA-256').argument('<hash>').option(...dirOpt).option('--by <name>', 'who approves (recorded in the audit log)', 'data-manager').option('--json', 'JSON on the last stdout line', false)
    .action((hash: string, o: { dir?: string; by: string; json: boolean }) => {
      const r = stores(o).plans.approve(hash, o.by);
      info(`approved ${r.hash} (${r.name})`);
      if (o.json) printJson({ plan: r });
    });
  plan.command('reject').description('reject a plan').argument('<hash>').requiredOption('--reason <text>', 'reason shown to the researcher').option(...dirOpt).option('--json', 'JSON on the last stdout line', false)
    .action((hash: string, o: { dir?: string; reason: string; json: boolean }) => {
      const r = stores(o).plans.reject(hash, o.reason);
      info(`rejected ${r.hash} (${r.name})`);
      if (o.json) printJson({ plan: r });
    });

  const audit = node.command('audit').description('The tamper-evident audit log');
  audit.command('verify').description('recompute the hash chain; exit 1 if any entry was altered, removed or reordered')
    .option(...dirOpt).option('--expect-head <seq:hash>', 'an anchored head recorded elsewhere (detects truncation)').option('--json', 'JSON on the last stdout line', false)
    .action((o: { dir?: string; expectHead?: string; json: boolean }) => {
      let expect: { seq: number; hash: string } | undefined;
      if (o.expectHead !== undefined) {
        const m = /^(\d+):([0-9a-f]{64})$/.exec(o.expectHead);
        if (m === null) throw new InvalidArgumentError('--expect-head', 'expected <seq>:<64 hex digits>');
        expect = { seq: Number(m[1]), hash: m[2]! };
      }
      const v = stores(o).audit.verify(expect);
      if (v.ok) info(`audit log intact: ${v.entries} entries, head ${v.head.seq}:${v.head.hash}`);
      else info(`AUDIT LOG TAMPERED at entry ${v.badSeq}: ${v.reason}`);
      if (o.json) printJson(v);
      if (!v.ok) process.exitCode = 1;
    });
  audit.command('show').description('print the entries').option(...dirOpt).option('--json', 'JSON on the last stdout line', false)
    .action((o: { dir?: string; json: boolean }) => {
      const entries = stores(o).audit.entries();
      for (const e of entries) info(`${e.seq} ${e.time} ${e.type} ${JSON.stringify(e.data)}`);
      if (o.json) printJson({ entries });
    });

  const policy = node.command('policy').description('What this node allows');
  policy.command('show').description('print the effective policy').option(...dirOpt)
    .action((o: { dir?: string }) => {
      printJson(loadPolicy(nodePaths(dirOf(o)).policy));
    });
  policy.command('set').description('validate a policy JSON file and install it').argument('<file>').option(...dirOpt)
    .action((file: string, o: { dir?: string }) => {
      const p = parsePolicy(JSON.parse(readFileSync(file, 'utf8')));
      savePolicy(nodePaths(dirOf(o)).policy, p);
      stores(o).audit.append('policy-set', { policy: p as unknown as Record<string, unknown> });
      info('policy installed');
    });

  node.command('run').description('run the node service: dial out to the aggregator (no listening port) and serve approved work')
    .requiredOption('--aggregator <host:port>', 'aggregator address')
    .requiredOption('--crl <file>', 'federation CRL file (reloaded every 10 s)')
    .option('--member <dir>', 'PKI member directory (default <dir>/member)')
    .option('--threads <n>', 'onnxruntime intra-op threads', '1')
    .option('--jl-fingerprint <hex>', 'accept only this Joye-Libert modulus (published out of band)')
    .option(...dirOpt)
    .action(async (o: { aggregator: string; crl: string; member?: string; threads: string; jlFingerprint?: string; dir?: string }) => {
      const svc = await startNodeService({
        dir: dirOf(o), aggregator: o.aggregator, crlFile: o.crl, threads: Number(o.threads), log: info,
        ...(o.member === undefined ? {} : { memberDir: o.member }), ...(o.jlFingerprint === undefined ? {} : { jlFingerprint: o.jlFingerprint }),
      });
      info(`node ${svc.agent.id} connected to ${o.aggregator}; Ctrl-C to stop`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      svc.stop();
    });
}
