/**
 * A small helper for writing ONNX graphs by hand: each call appends one node and returns the
 * name of its output, so backpropagation can be written as straight-line code.
 */
import type { OnnxAttributeValue, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx.ts';

/** Accumulates nodes and constants of one graph. */
export class GraphBuilder {
  readonly #nodes: OnnxNode[] = [];
  readonly #inits: OnnxTensor[] = [];
  readonly #constNames = new Map<string, string>();
  #counter = 0;

  /** Appends `opType(inputs)` and returns its (single) output name. */
  op(opType: string, inputs: readonly string[], attributes?: Record<string, OnnxAttributeValue>, output?: string): string {
    const out = output ?? `${opType.toLowerCase()}_${this.#counter++}`;
    this.#nodes.push({ opType, inputs, outputs: [out], name: `${opType}_${this.#nodes.length}`, ...(attributes === undefined ? {} : { attributes }) });
    return out;
  }

  /** An int64 constant (deduplicated by value), e.g. Slice bounds, Unsqueeze axes, Reshape shapes. */
  i64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.#constant('int64', values, dims);
  }

  /** A float32 constant (deduplicated by value); `dims` `[]` makes a scalar. */
  f32(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.#constant('float32', values, dims);
  }

  #constant(elemType: 'int64' | 'float32', values: readonly number[], dims: readonly number[]): string {
    const key = `${elemType}|${dims.join(',')}|${values.join(',')}`;
    const hit = this.#constNames.get(key);
    if (hit !== undefined) return hit;
    const name = `c${this.#inits.length}_${elemType === 'int64' ? 'i64' : 'f32'}`;
    this.#inits.push({ name, elemType, dims, values });
    this.#constNames.set(key, name);
    return name;
  }

  /** The finished model. */
  build(graphName: string, inputs: readonly OnnxValueInfo[], outputs: readonly OnnxValueInfo[], extra: Pick<OnnxModel, 'docString' | 'metadata'> = {}): OnnxModel {
    return { graphName, inputs, outputs, initializers: [...this.#inits], nodes: [...this.#nodes], ...extra };
  }
}
