/**
 * onnxruntime-node session creation with fedsec's defaults: CPU only, sequential execution,
 * one inter-op thread and a configurable (default 1) number of intra-op threads, so training
 * shares a small machine politely with the rest of the node.
 */
import * as ort from 'onnxruntime-node';

/** Session tuning knobs. */
export interface SessionTuning {
  /** Threads inside one operator (default 1). */
  readonly intraOpNumThreads?: number;
}

/** Creates an onnxruntime session from ONNX bytes (errors are onnxruntime's; callers wrap them). */
export async function createOrtSession(bytes: Uint8Array, tuning: SessionTuning = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: tuning.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
}

/** A float32 tensor of `shape` over `data` (no copy). */
export function f32Tensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, shape);
}

export { ort };
