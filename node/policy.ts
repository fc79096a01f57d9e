/**
 * Node policy: what a hospital's data manager allows the federation to do with its data.
 * {@link evaluatePolicy} checks each incoming work request and either refuses it with a typed
 * reason (shown to the researcher) or returns the effective training arguments, clamped into the
 * allowed ranges when the policy says `outOfRange: 'clamp'`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { assertInt, assertNumber, ID_PATTERN } from '../common/validate.ts';
import { writeFileDurable } from '../proto/durable.ts';
import { DP_MODES, SECAGG_SCHEMES, type DpMode, type SecAggScheme, type TrainingArgs, type WorkRequest } from '../proto/work.ts';
import { NodeError } from './errors.ts';

/** An inclusive numeric range. */
export interface Range {
  readonly min: number;
  readonly max: number;
}

/** Per-dataset privacy budget the node's ledger enforces. */
export interface DatasetBudget {
  readonly epsilon: number;
  readonly delta: number;
}

/** A node's policy. */
export interface NodePolicy {
  /** Secure-aggregation schemes the node takes part in (`off` = plain sums). */
  readonly schemes: readonly SecAggScheme[];
  /** Refuse any round whose sum the aggregator could read. */
  readonly requireSecureAggregation: boolean;
  /** Refuse any training round without differential privacy. */
  readonly requireDp: boolean;
  /** DP modes the node accepts. */
  readonly dpModes: readonly DpMode[];
  /** Smallest noise multiplier σ accepted when DP is on. */
  readonly minNoiseMultiplier: number;
  /** Smallest number of nodes in a secure sum this node takes part in. */
  readonly minParticipants: number;
  /** Allowed ranges of the training arguments. */
  readonly trainingArgs: { readonly learningRate: Range; readonly epochs: Range; readonly batchSize: Range };
  /** Out-of-range arguments: refuse the request, or clamp them into range (override). */
  readonly outOfRange: 'refuse' | 'clamp';
  /** Whether federated preprocessing (secure sums of feature statistics) is allowed. */
  readonly allowStats: boolean;
  /** Privacy budget per dataset tag (used by the ledger when DP is on). */
  readonly budgets: Readonly<Record<string, DatasetBudget>>;
  /** Budget for tags not listed in `budgets`. */
  readonly defaultBudget: DatasetBudget;
}

/** A conservative default: secure aggregation and DP required, at least 3 nodes. */
export const DEFAULT_POLICY: NodePolicy = {
  schemes: ['masking', 'jl'],
  requireSecureAggregation: true,
  requireDp: true,
  dpModes: ['local', 'distributed', 'central'],
  minNoiseMultiplier: 0.3,
  minParticipants: 3,
  trainingArgs: { learningRate: { min: 1e-4, max: 1 }, epochs: { min: 1, max: 20 }, batchSize: { min: 8, max: 1024 } },
  outOfRange: 'refuse',
  allowStats: true,
  budgets: {},
  defaultBudget: { epsilon: 10, delta: 1e-5 },
};

/** The outcome of an accepted request. */
export interface PolicyDecision {
  /** Training arguments to use (possibly clamped). */
  readonly args: TrainingArgs;
  /** Human-readable notes about clamped arguments (empty if none). */
  readonly overrides: readonly string[];
  /** The budget the ledger must enforce for this tag. */
  readonly budget: DatasetBudget;
}

/** Validates a policy object (e.g. read from policy.json), filling defaults for missing fields. */
export function parsePolicy(v: unknown): NodePolicy {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new NodeError('ERR_NODE_POLICY_INVALID', 'policy must be a JSON object');
  const o = { ...DEFAULT_POLICY, ...(v as Partial<NodePolicy>) };
  const bad = (m: string): never => { throw new NodeError('ERR_NODE_POLICY_INVALID', `policy: ${m}`); };
  if (!Array.isArray(o.schemes) || o.schemes.some((s) => !SECAGG_SCHEMES.includes(s))) bad(`schemes must list some of ${SECAGG_SCHEMES.join(', ')}`);
  if (!Array.isArray(o.dpModes) || o.dpModes.some((s) => !DP_MODES.includes(s))) bad(`dpModes must list some of ${DP_MODES.join(', ')}`);
  if (typeof o.requireSecureAggregation !== 'boolean' || typeof o.requireDp !== 'boolean' || typeof o.allowStats !== 'boolean') bad('require*/allowStats must be booleans');
  if (o.outOfRange !== 'refuse' && o.outOfRange !== 'clamp') bad('outOfRange must be refuse or clamp');
  try {
    assertNumber('minNoiseMultiplier', o.minNoiseMultiplier, 0, 1e6);
    assertInt('minParticipants', o.minParticipants, 1, 1024);
    const ta = { ...DEFAULT_POLICY.trainingArgs, ...(o.trainingArgs ?? {}) };
    for (const k of ['learningRate', 'epochs', 'batchSize'] as const) {
      const r = ta[k];
      assertNumber(`trainingArgs.${k}.min`, r?.min, 0, 1e9);
      assertNumber(`trainingArgs.${k}.max`, r?.max, r.min, 1e9);
    }
    const budgets: Record<string, DatasetBudget> = {};
    for (const [tag, b] of Object.entries(o.budgets ?? {})) {
      if (!ID_PATTERN.test(tag)) bad(`budgets: bad tag ${JSON.stringify(tag).slice(0, 40)}`);
      assertNumber(`budgets.${tag}.epsilon`, b?.epsilon, 0, 1e6, { minOpen: true });
      assertNumber(`budgets.${tag}.delta`, b?.delta, 0, 1, { minOpen: true, maxOpen: true });
      budgets[tag] = { epsilon: b.epsilon, delta: b.delta };
    }
    assertNumber('defaultBudget.epsilon', o.defaultBudget?.epsilon, 0, 1e6, { minOpen: true });
    assertNumber('defaultBudget.delta', o.defaultBudget?.delta, 0, 1, { minOpen: true, maxOpen: true });
    return { ...o, trainingArgs: ta, budgets, defaultBudget: { epsilon: o.defaultBudget.epsilon, delta: o.defaultBudget.delta } };
  } catch (e) {
    if (e instanceof NodeError) throw e;
    throw new NodeError('ERR_NODE_POLICY_INVALID', `policy: ${(e as Error).message}`);
  }
}

/** Reads `policy.json` at `path`, or the default policy when the file does not exist. */
export function loadPolicy(path: string): NodePolicy {
  if (!existsSync(path)) return DEFAULT_POLICY;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new NodeError('ERR_NODE_POLICY_INVALID', `${path} is not valid JSON`);
  }
  return parsePolicy(raw);
}

/** Writes a validated policy to `path` atomically. */
export function savePolicy(path: string, p: NodePolicy): void {
  writeFileDurable(path, JSON.stringify(parsePolicy(p), null, 2) + '\n', 0o600);
}

/**
 * Checks `req` against `policy`. Throws a {@link NodeError} whose code and message tell the
 * researcher exactly which rule refused the request; otherwise returns the effective arguments.
 */
export function evaluatePolicy(policy: NodePolicy, req: WorkRequest): PolicyDecision {
  const budget = policy.budgets[req.tag] ?? policy.defaultBudget;
  if (!policy.schemes.includes(req.secagg)) {
    throw new NodeError('ERR_NODE_POLICY_SCHEME', `policy does not accept secure-aggregation scheme '${req.secagg}' (accepted: ${policy.schemes.join(', ') || 'none'})`, { scheme: req.secagg });
  }
  if (policy.requireSecureAggregation && req.secagg === 'off') {
    throw new NodeError('ERR_NODE_POLICY_SECAGG_REQUIRED', 'policy requires secure aggregation; plain sums are refused');
  }
  const minPeers = Math.max(policy.minParticipants, 1);
  if (req.minParticipants < minPeers) {
    throw new NodeError('ERR_NODE_POLICY_PARTICIPANTS', `policy requires sums over at least ${minPeers} nodes; the request allows ${req.minParticipants}`, { required: minPeers });
  }
  if (req.kind === 'eval') return { args: req.args, overrides: [], budget };
  if (req.kind === 'stats') {
    if (!policy.allowStats) throw new NodeError('ERR_NODE_POLICY_ARGS', 'policy does not allow federated preprocessing statistics');
    return { args: req.args, overrides: [], budget };
  }
  if (req.dp.mode === 'off') {
    if (policy.requireDp) throw new NodeError('ERR_NODE_POLICY_DP_REQUIRED', 'policy requires differential privacy; a round without DP is refused');
  } else {
    if (!policy.dpModes.includes(req.dp.mode)) {
      throw new NodeError('ERR_NODE_POLICY_DP_MODE', `policy does not accept DP mode '${req.dp.mode}' (accepted: ${policy.dpModes.join(', ') || 'none'})`, { mode: req.dp.mode });
    }
    // Central noise is added by the aggregator to the sum; under Joye-Libert it cannot see the sum,
    // so the researcher would decrypt an un-noised aggregate while this node records the spend.
    if (req.dp.mode === 'central' && req.secagg === 'jl') {
      throw new NodeError('ERR_NODE_POLICY_DP_MODE', 'central DP cannot run with Joye-Libert: the aggregator cannot add noise to an encrypted sum', { mode: req.dp.mode });
    }
    if (req.dp.noiseMultiplier < policy.minNoiseMultiplier) {
      throw new NodeError('ERR_NODE_POLICY_NOISE', `noise multiplier ${req.dp.noiseMultiplier} is below the policy minimum ${policy.minNoiseMultiplier}`, { minimum: policy.minNoiseMultiplier });
    }
  }
  const overrides: string[] = [];
  const args = { ...req.args };
  for (const k of ['learningRate', 'epochs', 'batchSize'] as const) {
    const r = policy.trainingArgs[k];
    const v = args[k];
    if (v < r.min || v > r.max) {
      if (policy.outOfRange === 'refuse') {
        throw new NodeError('ERR_NODE_POLICY_ARGS', `${k} ${v} is outside the allowed range [${r.min}, ${r.max}]`, { arg: k, min: r.min, max: r.max });
      }
      // Central and distributed DP scale the noise to the requested learning rate (at the
      // aggregator, or jointly over the nodes): an update trained with another rate would carry
      // less noise than this node accounts for, so it is refused rather than clamped.
      if (k === 'learningRate' && (req.dp.mode === 'central' || req.dp.mode === 'distributed')) {
        throw new NodeError('ERR_NODE_POLICY_ARGS', `${k} ${v} is outside the allowed range [${r.min}, ${r.max}]; with ${req.dp.mode} DP it cannot be clamped (the noise is calibrated to the requested rate)`, { arg: k, min: r.min, max: r.max });
      }
      const c = Math.min(r.max, Math.max(r.min, v));
      args[k] = c;
      overrides.push(`${k} ${v} clamped to ${c}`);
    }
  }
  return { args, overrides, budget };
}
