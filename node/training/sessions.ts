/**
 * onnxruntime sessions of plans, cached by plan hash: a node that trains the same approved plan
 * round after round loads its graphs once.
 */
import { assertInt } from '../../common/validate.ts';
import { assertGraphSafe, createOrtSession, hashPlan, type TrainingPlan } from '../../researcher/plans/index.ts';
import type { InferenceSession } from 'onnxruntime-node';
import { TrainingError } from './errors.ts';

/** The two sessions of one plan. */
export interface PlanSessions {
  readonly hash: string;
  readonly step: InferenceSession;
  readonly inference: InferenceSession;
}

/** Options of {@link PlanSessionCache}. */
export interface PlanSessionCacheOptions {
  /** onnxruntime intra-op threads per session (default 1; inter-op threads are always 1). */
  readonly intraOpNumThreads?: number;
  /**
   * Plans kept loaded at once; the least recently used is released beyond this (default 8).
   * Size it above the number of plans trained concurrently: an evicted plan's sessions are
   * released even if a run on them is still in flight.
   */
  readonly maxPlans?: number;
}

/** An LRU cache of loaded plan sessions keyed by plan hash. */
export class PlanSessionCache {
  readonly intraOpNumThreads: number;
  readonly maxPlans: number;
  readonly #entries = new Map<string, Promise<PlanSessions>>();
  readonly #hashes = new WeakMap<TrainingPlan, string>();

  constructor(opts: PlanSessionCacheOptions = {}) {
    this.intraOpNumThreads = opts.intraOpNumThreads ?? 1;
    this.maxPlans = opts.maxPlans ?? 8;
    assertInt('intraOpNumThreads', this.intraOpNumThreads, 1, 64);
    assertInt('maxPlans', this.maxPlans, 1, 1024);
  }

  /** The plan hash (memoized per plan object). */
  hashOf(plan: TrainingPlan): string {
    let h = this.#hashes.get(plan);
    if (h === undefined) {
      h = hashPlan(plan);
      this.#hashes.set(plan, h);
    }
    return h;
  }

  /**
   * Sessions for `plan`, loading them on first use. Throws `ERR_PLAN_UNSAFE` for graphs with
   * external data or non-standard operator domains, `ERR_TRAIN_RUNTIME` if onnxruntime refuses a graph.
   */
  async get(plan: TrainingPlan): Promise<PlanSessions> {
    const hash = this.hashOf(plan);
    let entry = this.#entries.get(hash);
    if (entry !== undefined) {
      this.#entries.delete(hash);
      this.#entries.set(hash, entry); // most recently used last
      return entry;
    }
    entry = this.#load(hash, plan);
    this.#entries.set(hash, entry);
    entry.catch(() => { if (this.#entries.get(hash) === entry) this.#entries.delete(hash); });
    while (this.#entries.size > this.maxPlans) {
      const oldest = this.#entries.keys().next().value as string;
      await this.release(oldest);
    }
    return entry;
  }

  async #load(hash: string, plan: TrainingPlan): Promise<PlanSessions> {
    const tuning = { intraOpNumThreads: this.intraOpNumThreads };
    // Defense in depth: even an approved plan never gets onnxruntime to read external files.
    assertGraphSafe(plan.stepGraph, 'step');
    assertGraphSafe(plan.inferenceGraph, 'inference');
    let step: InferenceSession | undefined;
    try {
      step = await createOrtSession(plan.stepGraph, tuning);
      const inference = await createOrtSession(plan.inferenceGraph, tuning);
      return { hash, step, inference };
    } catch (e) {
      if (step !== undefined) await step.release();
      const msg = e instanceof Error ? e.message : String(e);
      throw new TrainingError('ERR_TRAIN_RUNTIME', `onnxruntime cannot load plan ${hash.slice(0, 16)}…: ${msg.slice(0, 300)}`, { plan: hash });
    }
  }

  /** Number of plans currently loaded. */
  get size(): number {
    return this.#entries.size;
  }

  /** Releases the sessions of one plan hash (no-op if not loaded). */
  async release(hash: string): Promise<void> {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return;
    this.#entries.delete(hash);
    const s = await entry.catch(() => undefined);
    if (s !== undefined) {
      await s.step.release();
      await s.inference.release();
    }
  }

  /** Releases every session. */
  async close(): Promise<void> {
    for (const h of [...this.#entries.keys()]) await this.release(h);
  }
}

/** The process-wide cache used when a caller does not pass one (1 intra-op thread). */
export const defaultSessionCache = new PlanSessionCache();
