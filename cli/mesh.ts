/**
 * `fedsec mesh ...`: plan the federation's WireGuard mesh from the CA, and bring a member's
 * interface up, down, or show its status. `up`/`down`/`status` need root (or CAP_NET_ADMIN).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.ts';
import { join } from 'node:path';
import type { Implementation } from '../pki/mesh/wg.ts';
import type { Topology } from '../pki/mesh/plan.ts';
import { MeshError, PkiError } from '../pki/errors.ts';
import { parseConfig } from '../pki/mesh/config.ts';
import { meshDown, meshStatus, meshUp } from '../pki/mesh/wg.ts';
import { wireguardPublicKey } from '../pki/keys.ts';
import { info, printJson } from './output.ts';

const WALKTHROUGH = `
Laying out and running the mesh:
  admin:  fedsec mesh plan --ca ./ca --out ./mesh --endpoint agg=vpn.example.org:51820
          → ./mesh/<id>.conf for every active member (revoked ones dropped) and ./mesh/roster.json
  member: fedsec mesh up --config hospital-a.conf --member ./hospital-a --interface fedsec0
          fedsec mesh status --interface fedsec0 --config hospital-a.conf
          fedsec mesh down --interface fedsec0
Hub-and-spoke via the aggregator by default (--topology full for a full mesh); the hub relays
spoke-to-spoke traffic when brought up with --forward. Uses the kernel WireGuard module when
present, else wireguard-go. Re-run \`mesh plan\` after every enrollment or revocation.`;

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function timeout(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 100 || n > 600_000) throw new InvalidArgumentError('timeout-ms', 'must be an integer in [100, 600000]');
  return n;
}

async function readConfig(file: string): Promise<ReturnType<typeof parseConfig>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new MeshError('ERR_MESH_NOT_FOUND', `configuration not found: ${file}`);
  });
  return parseConfig(text);
}

/** Checks that a member directory's wireguard.key matches its member.json (ERR_PKI_KEY_MISMATCH). */
async function checkMemberKey(dir: string, keyFile: string): Promise<void> {
  let member: { wireguardKey?: unknown };
  try {
    member = JSON.parse(await readFile(join(dir, 'member.json'), 'utf8')) as { wireguardKey?: unknown };
  } catch {
    throw new PkiError('ERR_PKI_NOT_FOUND', `no valid member.json in ${dir}`);
  }
  const key = (await readFile(keyFile, 'utf8').catch(() => {
    throw new PkiError('ERR_PKI_NOT_FOUND', `WireGuard key not found: ${keyFile}`);
  })).trim();
  let pub: string;
  try {
    pub = wireguardPublicKey(key);
  } catch {
    throw new PkiError('ERR_PKI_CORRUPT_KEY', `${keyFile} is corrupted`);
  }
  if (pub !== member.wireguardKey) throw new PkiError('ERR_PKI_KEY_MISMATCH', `${keyFile} does not match ${join(dir, 'member.json')}`);
}

/** Registers the `mesh` command group. */
export function registerMeshCommands(program: Command): void {
  const mesh = program.command('mesh').description('WireGuard mesh: plan addresses and configurations, bring interfaces up/down, status').addHelpText('after', WALKTHROUGH);

  mesh
    .command('plan')
    .description('Admin: allocate mesh addresses, write each member\'s WireGuard configuration and the signed roster')
    .requiredOption('--ca <dir>', 'CA directory')
    .requiredOption('--out <dir>', 'where to write <id>.conf files and roster.json')
    .option('--range <cidr>', 'mesh address range (default 10.77.0.0/24, or the one already recorded)')
    .option('--topology <t>', 'hub (spokes through the aggregator) or full')
    .option('--hub <id>', 'hub member (default: the only aggregator)')
    .option('--endpoint <id=host:port>', 'public endpoint of a member (repeatable); the hub needs one', collect, [])
    .option('--listen-port <port>', 'local UDP port of members with an endpoint, if a NAT maps their public port to another (default: the endpoint\'s port)')
    .option('--keepalive <s>', 'PersistentKeepalive towards endpoints', '25')
    .option('--passphrase-file <file>', 'file holding the CA passphrase (else $FEDSEC_CA_PASSPHRASE)')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { ca: string; out: string; range?: string; topology?: string; hub?: string; endpoint: string[]; listenPort?: string; keepalive: string; passphraseFile?: string; json: boolean }) => {
      // Loaded here: the CA and X.509 code is not needed by up/down/status.
      const { CertificateAuthority, planMesh } = await import('../pki/index.ts');
      const ca = await CertificateAuthority.open(o.ca);
      let pass = process.env['FEDSEC_CA_PASSPHRASE'];
      if (o.passphraseFile !== undefined) pass = (await readFile(o.passphraseFile, 'utf8')).replace(/\r?\n$/, '');
      if (!pass) throw new PkiError('ERR_PKI_BAD_PASSPHRASE', 'the CA passphrase is needed to sign the roster: set FEDSEC_CA_PASSPHRASE or pass --passphrase-file <file>');
      await ca.unlock(pass);
      const endpoints: Record<string, string> = {};
      for (const e of o.endpoint) {
        const i = e.indexOf('=');
        if (i <= 0) throw new InvalidArgumentError('endpoint', 'expected <id>=<host>:<port>');
        endpoints[e.slice(0, i)] = e.slice(i + 1);
      }
      if (o.topology !== undefined && o.topology !== 'hub' && o.topology !== 'full') throw new InvalidArgumentError('topology', 'must be hub or full');
      const plan = await planMesh(ca, {
        ...(o.range ? { range: o.range } : {}),
        ...(o.topology ? { topology: o.topology as Topology } : {}),
        ...(o.hub ? { hub: o.hub } : {}),
        endpoints,
        ...(o.listenPort ? { listenPort: Number(o.listenPort) } : {}),
        keepalive: Number(o.keepalive),
      }, o.out);
      for (const c of plan.configs) info(`${c.id} (${c.role}): ${c.config.address}, ${c.config.peers.length} peer(s) → ${o.out}/${c.id}.conf`);
      info(`roster version ${plan.roster.version} → ${o.out}/roster.json`);
      if (o.json) printJson({ out: o.out, range: plan.allocations.range, topology: plan.allocations.topology, hub: plan.allocations.hub ?? null, rosterVersion: plan.roster.version, members: plan.configs.map((c) => ({ id: c.id, role: c.role, address: c.config.address })) });
    });

  mesh
    .command('up')
    .description('Member: create the WireGuard interface from a planned configuration and bring it up (root)')
    .requiredOption('--config <file>', 'this member\'s <id>.conf from `mesh plan`')
    .option('--member <dir>', 'member directory (reads wireguard.key there)')
    .option('--key <file>', 'WireGuard private key file instead of --member')
    .option('--interface <name>', 'interface name (max 15 chars; distinct per wireguard-go instance)', 'fedsec0')
    .option('--implementation <impl>', 'auto (kernel, else wireguard-go), kernel or userspace', 'auto')
    .option('--forward', 'relay traffic between peers on this interface (the hub in hub-and-spoke)', false)
    .option('--timeout-ms <ms>', 'timeout for each wg/ip command', '10000')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { config: string; member?: string; key?: string; interface: string; implementation: string; forward: boolean; timeoutMs: string; json: boolean }) => {
      if (!['auto', 'kernel', 'userspace'].includes(o.implementation)) throw new InvalidArgumentError('implementation', 'must be auto, kernel or userspace');
      const config = await readConfig(o.config);
      let keyFile: string;
      if (o.member !== undefined) {
        keyFile = join(o.member, 'wireguard.key');
        await checkMemberKey(o.member, keyFile);
      } else if (o.key !== undefined) keyFile = o.key;
      else throw new InvalidArgumentError('member', 'give --member <dir> or --key <file> (the configuration holds no private key)');
      const r = await meshUp(config, keyFile, o.interface, { implementation: o.implementation as Implementation, forward: o.forward, timeoutMs: timeout(o.timeoutMs) });
      info(`${r.interface} up (${r.implementation}) at ${r.address} with ${r.peers} peer(s); public key ${r.publicKey}`);
      if (o.json) printJson(r);
    });

  mesh
    .command('down')
    .description('Member: remove the WireGuard interface (root)')
    .option('--interface <name>', 'interface name', 'fedsec0')
    .option('--timeout-ms <ms>', 'timeout for each wg/ip command', '10000')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { interface: string; timeoutMs: string; json: boolean }) => {
      await meshDown(o.interface, { timeoutMs: timeout(o.timeoutMs) });
      info(`${o.interface} removed`);
      if (o.json) printJson({ interface: o.interface, down: true });
    });

  mesh
    .command('status')
    .description('Show each peer\'s endpoint, last handshake age and bytes (root)')
    .option('--interface <name>', 'interface name', 'fedsec0')
    .option('--config <file>', 'configuration, to name peers by member id')
    .option('--timeout-ms <ms>', 'timeout for each wg/ip command', '10000')
    .option('--json', 'print a JSON summary as the last stdout line', false)
    .action(async (o: { interface: string; config?: string; timeoutMs: string; json: boolean }) => {
      const config = o.config !== undefined ? await readConfig(o.config) : undefined;
      const st = await meshStatus(o.interface, { timeoutMs: timeout(o.timeoutMs), ...(config ? { config } : {}) });
      if (o.json) {
        printJson(st);
        return;
      }
      const rows = st.peers.map((p) => [p.id ?? p.publicKey.slice(0, 10) + '…', p.endpoint ?? '-', p.handshakeAgeSeconds === null ? 'never' : `${p.handshakeAgeSeconds}s ago`, String(p.rxBytes), String(p.txBytes)].join('\t'));
      process.stdout.write([`interface ${st.interface} (port ${st.listenPort}, key ${st.publicKey})`, 'PEER\tENDPOINT\tHANDSHAKE\tRX\tTX', ...rows].join('\n') + '\n');
    });
}
