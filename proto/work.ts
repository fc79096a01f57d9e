/**
 * The work a researcher asks of the federation and the aggregator forwards to nodes: typed,
 * strictly validated JSON bodies carried inside the gRPC envelopes of proto/fedsec.proto.
 */
import { InvalidMessageError } from '../common/errors.ts';
import { assertInt, assertNumber, assertString, ID_PATTERN, type ErrorKind } from '../common/validate.ts';

/** Secure-aggregation scheme of a round (`off` = plain sums the aggregator can read). */
export type SecAggScheme = 'masking' | 'jl' | 'off';
/** The schemes, for validation. */
export const SECAGG_SCHEMES: readonly SecAggScheme[] = ['masking', 'jl', 'off'];
/** Where differential-privacy noise is added (`off` = none). */
export type DpMode = 'local' | 'distributed' | 'central' | 'off';
/** The modes, for validation. */
export const DP_MODES: readonly DpMode[] = ['local', 'distributed', 'central', 'off'];

/** Differential-privacy parameters of a request. */
export interface DpRequest {
  readonly mode: DpMode;
  /** Gaussian noise standard deviation in units of the clipping norm (σ). */
  readonly noiseMultiplier: number;
  /** Per-example (local / DP-SGD) or per-update (distributed / central) L2 clipping norm. */
  readonly clipNorm: number;
  /** Target δ of the (ε, δ) guarantee. */
  readonly delta: number;
}

/** Training arguments a researcher chooses and a node's policy bounds. */
export interface TrainingArgs {
  readonly learningRate: number;
  readonly epochs: number;
  readonly batchSize: number;
}

/** What a round asks each node to compute: feature statistics, a training step, or an evaluation. */
export type WorkKind = 'train' | 'stats' | 'eval';

/** Vector length of an `eval` contribution: [testCorrect, testCount, testLossSum]. */
export const EVAL_LENGTH = 3;

/** The request a node receives for one round attempt. */
export interface WorkRequest {
  readonly experiment: string;
  readonly round: number;
  readonly attempt: number;
  /** Dataset tag the node trains on. */
  readonly tag: string;
  readonly kind: WorkKind;
  /** SHA-256 of the plan bundle (proto/plan.ts). */
  readonly plan: string;
  /** SHA-256 of the global parameter blob (absent for `stats`). */
  readonly model?: string;
  readonly args: TrainingArgs;
  readonly secagg: SecAggScheme;
  readonly dp: DpRequest;
  /** Node ids invited into this attempt (sorted). */
  readonly participants: readonly string[];
  /** The aggregator never releases a sum over fewer than this many nodes. */
  readonly minParticipants: number;
  /** Global standardization (from a federated `stats` round) applied before training and evaluation. */
  readonly standardize?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

/**
 * Tail of a `train` contribution after the P weighted update values:
 * [w, w·trainLoss, testCorrect, testCount, testLossSum].
 */
export const TRAIN_TAIL = 5;

/** Vector length of a `train` contribution for P parameters. */
export function trainContributionLength(p: number): number {
  return p + TRAIN_TAIL;
}

/** Default plan-independent limits used where a policy does not say otherwise. */
export const DEFAULT_TRAINING_ARGS: TrainingArgs = { learningRate: 0.1, epochs: 1, batchSize: 32 };

const HASH_RE = /^[0-9a-f]{64}$/;

/** Validates a DP request (untrusted by default). */
export function validateDp(v: unknown, kind: ErrorKind = 'message', field = 'dp'): DpRequest {
  const o = asObject(v, field, kind);
  if (!DP_MODES.includes(o['mode'] as DpMode)) throw new InvalidMessageError(`${field}.mode`, `expected one of ${DP_MODES.join(', ')}`);
  assertNumber(`${field}.noiseMultiplier`, o['noiseMultiplier'], 0, 1e6, { kind });
  assertNumber(`${field}.clipNorm`, o['clipNorm'], 0, 1e9, { minOpen: true, kind });
  assertNumber(`${field}.delta`, o['delta'], 0, 1, { minOpen: true, maxOpen: true, kind });
  return { mode: o['mode'] as DpMode, noiseMultiplier: o['noiseMultiplier'] as number, clipNorm: o['clipNorm'] as number, delta: o['delta'] as number };
}

/** Validates training arguments (ranges are the protocol's hard limits; policies narrow them). */
export function validateArgs(v: unknown, kind: ErrorKind = 'message', field = 'args'): TrainingArgs {
  const o = asObject(v, field, kind);
  assertNumber(`${field}.learningRate`, o['learningRate'], 0, 100, { minOpen: true, kind });
  assertInt(`${field}.epochs`, o['epochs'], 1, 1000, kind);
  assertInt(`${field}.batchSize`, o['batchSize'], 1, 1 << 20, kind);
  return { learningRate: o['learningRate'] as number, epochs: o['epochs'] as number, batchSize: o['batchSize'] as number };
}

/** Validates a whole work request. */
export function validateWorkRequest(v: unknown, kind: ErrorKind = 'message'): WorkRequest {
  const o = asObject(v, 'work', kind);
  assertString('work.experiment', o['experiment'], 128, ID_PATTERN, kind);
  assertInt('work.round', o['round'], 0, 1_000_000, kind);
  assertInt('work.attempt', o['attempt'], 1, 1_000_000, kind);
  assertString('work.tag', o['tag'], 128, ID_PATTERN, kind);
  if (o['kind'] !== 'train' && o['kind'] !== 'stats' && o['kind'] !== 'eval') throw new InvalidMessageError('work.kind', 'expected train, stats or eval');
  assertString('work.plan', o['plan'], 64, HASH_RE, kind);
  if (o['model'] !== undefined) assertString('work.model', o['model'], 64, HASH_RE, kind);
  if (!SECAGG_SCHEMES.includes(o['secagg'] as SecAggScheme)) throw new InvalidMessageError('work.secagg', `expected one of ${SECAGG_SCHEMES.join(', ')}`);
  const parts = o['participants'];
  if (!Array.isArray(parts) || parts.length < 1 || parts.length > 1024) throw new InvalidMessageError('work.participants', 'expected 1..1024 node ids');
  for (const [i, p] of parts.entries()) assertString(`work.participants[${i}]`, p, 128, ID_PATTERN, kind);
  if (new Set(parts).size !== parts.length) throw new InvalidMessageError('work.participants', 'duplicate node id');
  assertInt('work.minParticipants', o['minParticipants'], 1, 1024, kind);
  return {
    experiment: o['experiment'] as string, round: o['round'] as number, attempt: o['attempt'] as number, tag: o['tag'] as string,
    kind: o['kind'], plan: o['plan'] as string, ...(o['model'] === undefined ? {} : { model: o['model'] as string }),
    args: validateArgs(o['args'], kind, 'work.args'), secagg: o['secagg'] as SecAggScheme, dp: validateDp(o['dp'], kind, 'work.dp'),
    participants: [...(parts as string[])], minParticipants: o['minParticipants'] as number,
    ...(o['standardize'] === undefined ? {} : { standardize: validateStandardize(o['standardize'], kind) }),
  };
}

/** Validates standardization parameters (equal-length finite means, positive stds). */
export function validateStandardize(v: unknown, kind: ErrorKind = 'message'): { mean: number[]; std: number[] } {
  const o = asObject(v, 'work.standardize', kind);
  const mean = o['mean'];
  const std = o['std'];
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== std.length || mean.length < 1 || mean.length > 1 << 16) {
    throw new InvalidMessageError('work.standardize', 'mean and std must be arrays of equal length');
  }
  mean.forEach((m, i) => assertNumber(`work.standardize.mean[${i}]`, m, -1e300, 1e300, { kind }));
  std.forEach((s, i) => assertNumber(`work.standardize.std[${i}]`, s, 0, 1e300, { minOpen: true, kind }));
  return { mean: [...(mean as number[])], std: [...(std as number[])] };
}

function asObject(v: unknown, field: string, kind: ErrorKind): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    if (kind === 'message') throw new InvalidMessageError(field, 'expected an object');
    throw new InvalidMessageError(field, 'expected an object');
  }
  return v as Record<string, unknown>;
}
