/**
 * Joye-Libert secure-aggregation benchmark: runs the real protocol in one process (setup,
 * precompute on worker threads, submit, aggregate, unmask, finalize) and reports CPU and
 * critical-path times per role. CPU figures are `process.cpuUsage()` deltas, which include
 * the worker threads. Nothing here is mocked: every node encrypts, the aggregator multiplies
 * every ciphertext, the researcher decrypts and the result is checked against the plain sum.
 */
import { cpuUsage, hrtime } from 'node:process';
import { InvalidArgumentError } from '../common/errors.ts';
import { assertInt } from '../common/validate.ts';
import { generateSigningKeyPair } from '../crypto/ed25519.ts';
import { systemRandom } from '../crypto/random.ts';
import { Roster, type RosterMember } from '../crypto/roster.ts';
import {
  ciphertextCount,
  defaultWorkers,
  generateModulus,
  JlAggregatorRound,
  JlNode,
  JlResearcher,
  JlSetupNode,
  JlSetupRelay,
  JlSetupResearcher,
  JlWorkerPool,
  packingLayout,
  type JlIdentity,
  type JlModulus,
  type JlSetupConfig,
  type JlTag,
} from '../crypto/jl/index.ts';

/** Options of {@link runJlBench}. */
export interface JlBenchOptions {
  /** Model parameters (values per node). */
  readonly params: number;
  /** Number of nodes. */
  readonly nodes: number;
  /** Modulus size (default 2048; 1024 only as an insecure comparison point). */
  readonly modulusBits?: number;
  /** Bits per quantized value (default 16). */
  readonly valueBits?: number;
  /** Nodes that drop before submitting (default 0). */
  readonly dropouts?: number;
  /** Dropout threshold t (default floor(n/2)+1). */
  readonly threshold?: number;
  /** Worker threads (default: available parallelism). */
  readonly workers?: number;
  /** Use this modulus instead of running a ceremony. */
  readonly modulus?: JlModulus;
}

/** Figures reported by {@link runJlBench} (seconds unless named otherwise). */
export interface JlBenchResult {
  readonly scheme: 'jl';
  readonly params: number;
  readonly nodes: number;
  readonly modulusBits: number;
  readonly insecureModulus: boolean;
  readonly valueBits: number;
  readonly dropouts: number;
  readonly threshold: number;
  readonly workers: number;
  readonly slotBits: number;
  readonly slotsPerCiphertext: number;
  readonly ciphertexts: number;
  /** Per node (mean): CPU of precomputing the pads plus encrypting (all threads). */
  readonly nodeEncryptCpuS: number;
  /** Per node (mean): wall time of precomputing the pads (off the critical path). */
  readonly nodePrecomputeWallS: number;
  /** Per node (mean): wall time from data to submission with pads ready. */
  readonly nodeCriticalPathS: number;
  /** All nodes: total CPU of precompute + encryption. */
  readonly totalNodeCpuS: number;
  /** Per responding node (mean): wall time of the unmask answer (key recovery when nodes dropped). */
  readonly nodeUnmaskS: number;
  /** Aggregator: verifying and multiplying all submissions, closing, relaying. */
  readonly aggregatorS: number;
  /** Researcher: CPU of the inverse-pad precompute plus the final decryption (all threads). */
  readonly researcherDecryptCpuS: number;
  /** Researcher: wall time of the inverse-pad precompute (off the critical path). */
  readonly researcherPrecomputeWallS: number;
  /** Researcher: wall time of the final decryption with precompute ready. */
  readonly researcherCriticalPathS: number;
  /** Key setup (all parties, in one process). */
  readonly setupS: number;
  readonly ciphertextBytesPerParam: number;
  /** Bytes one node uploads in the submission (ciphertexts + seed-share boxes + signature). */
  readonly uploadBytesPerNode: number;
  /** True when the researcher's sums equal the plain sums of the survivors' inputs. */
  readonly exact: boolean;
}

function cpuS(start: NodeJS.CpuUsage): number {
  const d = cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function wallS(start: bigint): number {
  return Number(hrtime.bigint() - start) / 1e9;
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Runs the JL protocol end to end and measures it. */
export async function runJlBench(opts: JlBenchOptions): Promise<JlBenchResult> {
  assertInt('params', opts.params, 1, 2 ** 27);
  assertInt('nodes', opts.nodes, 2, 1000);
  const n = opts.nodes;
  const modulusBits = opts.modulus?.bits ?? opts.modulusBits ?? 2048;
  const valueBits = opts.valueBits ?? 16;
  assertInt('valueBits', valueBits, 1, 32);
  const threshold = opts.threshold ?? Math.floor(n / 2) + 1;
  assertInt('threshold', threshold, Math.floor(n / 2) + 1, n);
  const dropouts = opts.dropouts ?? 0;
  if (!Number.isSafeInteger(dropouts) || dropouts < 0 || dropouts > n - threshold) {
    throw new InvalidArgumentError('dropouts', `must be in [0, n - t] = [0, ${n - threshold}]`);
  }
  const workers = opts.workers ?? defaultWorkers();
  const modulus = opts.modulus ?? generateModulus(modulusBits, { insecureAllowSmall: true });

  // Federation and identities.
  const ids: Record<string, JlIdentity> = {};
  const members: RosterMember[] = [];
  const nodeIds = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(3, '0')}`);
  for (const [id, role] of [...nodeIds.map((x) => [x, 'node'] as const), ['researcher', 'researcher'] as const, ['aggregator', 'aggregator'] as const]) {
    const kp = generateSigningKeyPair();
    ids[id] = { id, secretKey: kp.secretKey };
    members.push({ id, role, identityKey: kp.publicKey });
  }
  const roster = new Roster('bench', members);

  // Setup.
  const t0 = hrtime.bigint();
  const cfg: JlSetupConfig = { roster, modulus, setupId: 'bench-setup', nodes: nodeIds, researcher: 'researcher', threshold };
  const relay = new JlSetupRelay(cfg);
  const sNodes = nodeIds.map((id) => new JlSetupNode(cfg, ids[id]!));
  const sRes = new JlSetupResearcher(cfg, ids['researcher']!);
  for (const s of sNodes) relay.addAdvertisement(s.advertise());
  relay.addAdvertisement(sRes.advertise());
  const ads = relay.advertisements();
  sRes.accept(ads);
  for (const s of sNodes) relay.addShares(s.deal(ads));
  sNodes.forEach((s, i) => relay.sharesFor(nodeIds[i]!).forEach((m) => s.receive(m)));
  for (const s of sNodes) relay.addSum(s.complete());
  for (const m of relay.sums()) sRes.receive(m);
  const setupS = wallS(t0);

  const pool = new JlWorkerPool(workers);
  try {
    const nodes = nodeIds.map((id, i) => new JlNode(sNodes[i]!.keys(), modulus, ids[id]!, roster, { pool }));
    const researcher = new JlResearcher(sRes.keys(), modulus, ids['researcher']!, roster, { pool });
    const tag: JlTag = { federation: 'bench', experiment: 'bench', round: 0, attempt: 0 };
    // Warm the workers (thread start-up and module loading are not part of a round).
    await pool.pads({ modulus, exponent: 3n, tag: { ...tag, experiment: 'warm-up' }, start: 0, count: 2 * workers });
    const layout = packingLayout(modulus.bits, valueBits, n);
    const k = ciphertextCount(layout, opts.params);
    const limit = 2 ** valueBits;
    const inputs = nodeIds.map(() => {
      const v = new Uint32Array(opts.params);
      systemRandom.fill(new Uint8Array(v.buffer));
      if (valueBits < 32) for (let j = 0; j < v.length; j++) v[j] = v[j]! % limit;
      return v;
    });
    const dropped = new Set(nodeIds.slice(n - dropouts));

    // Researcher precompute.
    let c0 = cpuUsage();
    let w0 = hrtime.bigint();
    await researcher.precompute(tag, opts.params, valueBits);
    const researcherPrecomputeWallS = wallS(w0);
    const researcherPrecomputeCpuS = cpuS(c0);

    // Nodes: precompute, then submit; aggregator receives as they arrive.
    const agg = new JlAggregatorRound({ roster, modulus, setupId: cfg.setupId, nodes: nodeIds, researcher: 'researcher', threshold, tag, valueCount: opts.params, valueBits });
    const nodeCpu: number[] = [];
    const nodePre: number[] = [];
    const nodeCrit: number[] = [];
    let aggregatorS = 0;
    let upload = 0;
    for (const [i, node] of nodes.entries()) {
      if (dropped.has(nodeIds[i]!)) continue;
      c0 = cpuUsage();
      w0 = hrtime.bigint();
      await node.precompute(tag, opts.params, valueBits);
      nodePre.push(wallS(w0));
      w0 = hrtime.bigint();
      const sub = node.submit(tag, inputs[i]!, valueBits);
      nodeCrit.push(wallS(w0));
      nodeCpu.push(cpuS(c0));
      upload = sub.ciphertexts.length + sub.seedShares.reduce((a, b) => a + b.box.length + 16, 0) + 64;
      w0 = hrtime.bigint();
      agg.receive(sub);
      aggregatorS += wallS(w0);
    }
    w0 = hrtime.bigint();
    const proposal = agg.close();
    aggregatorS += wallS(w0);
    const req = researcher.approve(proposal);
    w0 = hrtime.bigint();
    agg.accept(req);
    aggregatorS += wallS(w0);
    const unmask: number[] = [];
    for (const id of req.survivors.slice(0, threshold)) {
      const input = agg.inputFor(id);
      w0 = hrtime.bigint();
      const resp = await nodes[nodeIds.indexOf(id)]!.unmask(input);
      unmask.push(wallS(w0));
      w0 = hrtime.bigint();
      agg.receiveResponse(resp);
      aggregatorS += wallS(w0);
    }
    w0 = hrtime.bigint();
    const aggregate = agg.aggregate();
    aggregatorS += wallS(w0);
    c0 = cpuUsage();
    w0 = hrtime.bigint();
    const result = await researcher.finalize(aggregate);
    const researcherCriticalPathS = wallS(w0);
    const researcherFinalCpuS = cpuS(c0);

    let exact = true;
    for (let j = 0; j < opts.params && exact; j++) {
      let s = 0;
      for (const [i, v] of inputs.entries()) if (!dropped.has(nodeIds[i]!)) s += v[j]!;
      if (result.sums[j] !== s) exact = false;
    }
    return {
      scheme: 'jl',
      params: opts.params,
      nodes: n,
      modulusBits: modulus.bits,
      insecureModulus: modulus.bits < 2048,
      valueBits,
      dropouts,
      threshold,
      workers,
      slotBits: layout.slotBits,
      slotsPerCiphertext: layout.slotsPerCiphertext,
      ciphertexts: k,
      nodeEncryptCpuS: r4(mean(nodeCpu)),
      nodePrecomputeWallS: r4(mean(nodePre)),
      nodeCriticalPathS: r4(mean(nodeCrit)),
      totalNodeCpuS: r4(nodeCpu.reduce((a, b) => a + b, 0)),
      nodeUnmaskS: r4(mean(unmask)),
      aggregatorS: r4(aggregatorS),
      researcherDecryptCpuS: r4(researcherPrecomputeCpuS + researcherFinalCpuS),
      researcherPrecomputeWallS: r4(researcherPrecomputeWallS),
      researcherCriticalPathS: r4(researcherCriticalPathS),
      setupS: r4(setupS),
      ciphertextBytesPerParam: r4((k * Math.ceil((2 * modulus.bits) / 8)) / opts.params),
      uploadBytesPerNode: upload,
      exact,
    };
  } finally {
    await pool.close();
  }
}
