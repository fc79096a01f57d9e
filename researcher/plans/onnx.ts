/**
 * Minimal ONNX model encoder.
 *
 * A subset of `onnx.proto` (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto,
 * AttributeProto, TypeProto, TensorShapeProto, OperatorSetIdProto, StringStringEntryProto) is
 * declared below with the official field numbers and encoded with protobufjs. Only what the
 * fedsec plan builders need is supported: float/int64 tensors, int/float/ints attributes, dense
 * graph inputs/outputs with symbolic or fixed dimensions. Encoding is deterministic: the same
 * {@link OnnxModel} always yields the same bytes (fields in number order, no maps).
 */
import protobuf from 'protobufjs';
import { InvalidArgumentError } from '../../common/errors.ts';

const ONNX_SUBSET_PROTO = `
syntax = "proto2";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  optional AttributeType type = 20;
  optional SparseTensorProto sparse_tensor = 22;
  repeated SparseTensorProto sparse_tensors = 23;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}
message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}
message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
  repeated FunctionProto functions = 25;
}
message FunctionProto {
  optional string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated NodeProto node = 7;
  repeated OperatorSetIdProto opset_import = 9;
  optional string domain = 10;
}
message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated SparseTensorProto sparse_initializer = 15;
}
message TensorProto {
  repeated int64 dims = 1 [packed = true];
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
  optional string doc_string = 12;
  repeated StringStringEntryProto external_data = 13;
  optional int32 data_location = 14;
}
message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const root = protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: true }).root;
const ModelProtoType = root.lookupType('onnx.ModelProto');

/** ONNX IR version written by the encoder (IR 8 goes with opset 17). */
export const ONNX_IR_VERSION = 8;
/** Default-domain opset the builders target. */
export const ONNX_OPSET = 17;

/** ONNX TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT64: 7, DOUBLE: 11 } as const;
/** An element type the encoder can write. */
export type OnnxElemType = 'float32' | 'int64';

/** A dimension: a fixed size or a symbolic name (`"batch"`). */
export type OnnxDim = number | string;

/** A graph input or output. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: OnnxElemType;
  /** Shape; `[]` is a scalar. */
  readonly shape: readonly OnnxDim[];
}

/** A constant tensor (an initializer). */
export interface OnnxTensor {
  readonly name: string;
  readonly elemType: OnnxElemType;
  readonly dims: readonly number[];
  /** Values in row-major order; length must equal the product of `dims`. */
  readonly values: readonly number[] | Float32Array;
}

/** A node attribute value: int, float, list of ints or list of floats. */
export type OnnxAttributeValue =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

/** One operator invocation. */
export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Operator domain (default: the standard ONNX domain). */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, OnnxAttributeValue>>;
}

/** A whole single-graph model. */
export interface OnnxModel {
  readonly graphName: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly initializers: readonly OnnxTensor[];
  readonly nodes: readonly OnnxNode[];
  readonly docString?: string;
  /** Model-level metadata_props (sorted by key when encoded). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Producer name (default `fedsec`). */
  readonly producer?: string;
  /** Default-domain opset (default {@link ONNX_OPSET}). */
  readonly opset?: number;
}

function elemTypeCode(t: OnnxElemType): number {
  return t === 'float32' ? OnnxDataType.FLOAT : OnnxDataType.INT64;
}

function valueInfo(v: OnnxValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: elemTypeCode(v.elemType),
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function tensor(t: OnnxTensor): Record<string, unknown> {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.values.length !== count) {
    throw new InvalidArgumentError(`initializer.${t.name}`, `has ${t.values.length} values for dims [${t.dims.join(', ')}]`);
  }
  let raw: Uint8Array;
  if (t.elemType === 'float32') {
    const f = Float32Array.from(t.values);
    raw = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  } else {
    const b = new BigInt64Array(count);
    for (let i = 0; i < count; i++) {
      const v = t.values[i]!;
      if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`initializer.${t.name}`, `value ${i} is not an integer`);
      b[i] = BigInt(v);
    }
    raw = new Uint8Array(b.buffer);
  }
  // ONNX raw_data is little-endian; so is every platform onnxruntime-node ships for.
  return { dims: [...t.dims], data_type: elemTypeCode(t.elemType), name: t.name, raw_data: raw };
}

function attribute(name: string, v: OnnxAttributeValue): Record<string, unknown> {
  if ('int' in v) return { name, i: v.int, type: 2 };
  if ('float' in v) return { name, f: v.float, type: 1 };
  if ('ints' in v) return { name, ints: [...v.ints], type: 7 };
  return { name, floats: [...v.floats], type: 6 };
}

/** Encodes a model to ONNX protobuf bytes (deterministic). */
export function encodeOnnxModel(m: OnnxModel): Uint8Array {
  const metadata = m.metadata ?? {};
  const msg = {
    ir_version: ONNX_IR_VERSION,
    producer_name: m.producer ?? 'fedsec',
    producer_version: '0.1.0',
    model_version: 1,
    ...(m.docString === undefined ? {} : { doc_string: m.docString }),
    graph: {
      node: m.nodes.map((n, i) => ({
        input: [...n.inputs],
        output: [...n.outputs],
        name: n.name ?? `n${i}_${n.opType}`,
        op_type: n.opType,
        attribute: Object.keys(n.attributes ?? {}).sort().map((k) => attribute(k, n.attributes![k]!)),
        ...(n.domain === undefined || n.domain === '' ? {} : { domain: n.domain }),
      })),
      name: m.graphName,
      initializer: m.initializers.map(tensor),
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
    },
    opset_import: [
      { domain: '', version: m.opset ?? ONNX_OPSET },
      ...[...new Set(m.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''))].sort().map((d) => ({ domain: d, version: 1 })),
    ],
    metadata_props: Object.keys(metadata).sort().map((k) => ({ key: k, value: metadata[k]! })),
  };
  const err = ModelProtoType.verify(msg);
  if (err !== null) throw new InvalidArgumentError('model', `does not match the ONNX schema: ${err}`);
  return ModelProtoType.encode(ModelProtoType.fromObject(msg)).finish();
}

/** What {@link decodeOnnxSummary} reports about an ONNX model. */
export interface OnnxSummary {
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly initializers: readonly string[];
  readonly opTypes: readonly string[];
  readonly nodeCount: number;
}

/**
 * Decodes the parts of an ONNX model a reviewer wants to see (names, operator types, opsets)
 * using the subset schema; unknown fields are skipped. Throws if the bytes are not protobuf.
 */
export function decodeOnnxSummary(bytes: Uint8Array): OnnxSummary {
  const m = ModelProtoType.toObject(ModelProtoType.decode(bytes), { longs: Number, defaults: false }) as {
    ir_version?: number;
    opset_import?: { domain?: string; version?: number }[];
    graph?: { node?: { op_type?: string }[]; input?: { name?: string }[]; output?: { name?: string }[]; initializer?: { name?: string }[] };
  };
  const g = m.graph ?? {};
  return {
    irVersion: m.ir_version ?? 0,
    opsets: (m.opset_import ?? []).map((o) => ({ domain: o.domain ?? '', version: o.version ?? 0 })),
    inputs: (g.input ?? []).map((v) => v.name ?? ''),
    outputs: (g.output ?? []).map((v) => v.name ?? ''),
    initializers: (g.initializer ?? []).map((v) => v.name ?? ''),
    opTypes: [...new Set((g.node ?? []).map((n) => n.op_type ?? ''))].sort(),
    nodeCount: (g.node ?? []).length,
  };
}

type DecodedTensor = { name?: string; data_location?: number; external_data?: unknown[] };
type DecodedSparse = { values?: DecodedTensor; indices?: DecodedTensor };
type DecodedAttr = { name?: string; t?: DecodedTensor; g?: DecodedGraph; tensors?: DecodedTensor[]; graphs?: DecodedGraph[]; sparse_tensor?: DecodedSparse; sparse_tensors?: DecodedSparse[] };
type DecodedNode = { op_type?: string; domain?: string; attribute?: DecodedAttr[] };
type DecodedGraph = { name?: string; node?: DecodedNode[]; initializer?: DecodedTensor[]; sparse_initializer?: DecodedSparse[] };
type DecodedModel = { graph?: DecodedGraph; opset_import?: { domain?: string }[]; functions?: { name?: string; domain?: string; node?: DecodedNode[] }[] };

/** Operator domains a plan graph may use: the standard ONNX operator set and ONNX-ML. */
export const ALLOWED_OP_DOMAINS: readonly string[] = ['', 'ai.onnx', 'ai.onnx.ml'];

/**
 * Static safety findings for an ONNX model, before onnxruntime ever loads it: tensors stored
 * as external data (onnxruntime would read them from the node's filesystem), and operators
 * from domains other than {@link ALLOWED_OP_DOMAINS} that are not calls of the model's own
 * local functions (contributed or custom kernels). Walks the main graph, every subgraph (If/Loop/Scan
 * bodies) and every local function. Returns human-readable findings, empty when clean.
 * Throws if the bytes are not protobuf.
 */
export function onnxSafetyFindings(bytes: Uint8Array): string[] {
  const m = ModelProtoType.toObject(ModelProtoType.decode(bytes), { longs: Number, defaults: false }) as DecodedModel;
  const findings: string[] = [];
  const localFunctions = new Set((m.functions ?? []).map((f) => `${f.domain ?? ''}::${f.name ?? ''}`));
  const tensor = (t: DecodedTensor | undefined, where: string): void => {
    if (t === undefined) return;
    if ((t.data_location ?? 0) !== 0 || (t.external_data ?? []).length > 0) findings.push(`${where}: tensor '${t.name ?? ''}' uses external data`);
  };
  const sparse = (t: DecodedSparse | undefined, where: string): void => {
    tensor(t?.values, where);
    tensor(t?.indices, where);
  };
  const nodes = (list: DecodedNode[] | undefined, where: string, depth: number): void => {
    for (const n of list ?? []) {
      const d = n.domain ?? '';
      // A node outside the standard domains must call one of the model's own functions (exact domain and name).
      if (!ALLOWED_OP_DOMAINS.includes(d) && !localFunctions.has(`${d}::${n.op_type ?? ''}`)) findings.push(`${where}: operator ${n.op_type ?? '?'} from domain '${d}' is not allowed`);
      for (const a of n.attribute ?? []) {
        const at = `${where}/${n.op_type ?? '?'}.${a.name ?? ''}`;
        tensor(a.t, at);
        for (const t of a.tensors ?? []) tensor(t, at);
        sparse(a.sparse_tensor, at);
        for (const t of a.sparse_tensors ?? []) sparse(t, at);
        if (a.g !== undefined) graph(a.g, at, depth + 1);
        for (const g of a.graphs ?? []) graph(g, at, depth + 1);
      }
    }
  };
  const graph = (g: DecodedGraph, where: string, depth: number): void => {
    if (depth > 32) {
      findings.push(`${where}: subgraphs nested deeper than 32`);
      return;
    }
    for (const t of g.initializer ?? []) tensor(t, where);
    for (const t of g.sparse_initializer ?? []) sparse(t, where);
    nodes(g.node, where, depth);
  };
  if (m.graph !== undefined) graph(m.graph, 'graph', 0);
  for (const f of m.functions ?? []) nodes(f.node, `function ${f.domain ?? ''}.${f.name ?? ''}`, 1);
  return findings;
}
