/**
 * Exports a trained model as a standalone ONNX file: the plan's inference graph with the
 * trained parameter vector baked in as the initializer `params` (and removed from the graph
 * inputs), so any ONNX runtime scores it with the features alone.
 *
 * The ONNX protobuf is edited at the wire level (ModelProto.graph = field 7; GraphProto.input =
 * field 11, GraphProto.initializer = field 5; TensorProto dims = 1, data_type = 2, name = 8,
 * raw_data = 9); every other field is copied byte for byte.
 */
import { InvalidArgumentError } from '../common/errors.ts';
import { concatBytes, utf8 } from '../crypto/bytes.ts';

interface Field {
  readonly no: number;
  readonly wire: number;
  /** The whole encoded field (key and value). */
  readonly raw: Uint8Array;
  /** Length-delimited payload (wire type 2 only). */
  readonly payload?: Uint8Array;
}

function readVarint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) throw new InvalidArgumentError('onnx', 'truncated varint');
    const byte = b[pos++]!;
    v += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return [v, pos];
    mul *= 128;
  }
  throw new InvalidArgumentError('onnx', 'varint too long');
}

function varint(v: number): Uint8Array {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x % 128) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
  return Uint8Array.from(out);
}

function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    const [key, p1] = readVarint(b, pos);
    pos = p1;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    let payload: Uint8Array | undefined;
    if (wire === 0) [, pos] = readVarint(b, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, p2] = readVarint(b, pos);
      payload = b.subarray(p2, p2 + len);
      pos = p2 + len;
    } else throw new InvalidArgumentError('onnx', `unsupported wire type ${wire}`);
    if (pos > b.length) throw new InvalidArgumentError('onnx', 'truncated field');
    out.push({ no, wire, raw: b.subarray(start, pos), ...(payload === undefined ? {} : { payload }) });
  }
  return out;
}

function lenField(no: number, payload: Uint8Array): Uint8Array {
  return concatBytes(varint(no * 8 + 2), varint(payload.length), payload);
}

function varintField(no: number, v: number): Uint8Array {
  return concatBytes(varint(no * 8), varint(v));
}

/** The inference graph with `params` baked in as a float32 initializer. */
export function bakeParameters(inferenceGraph: Uint8Array, params: ArrayLike<number>, name = 'params'): Uint8Array {
  const model = fields(inferenceGraph);
  const graphIdx = model.findIndex((f) => f.no === 7 && f.wire === 2);
  if (graphIdx < 0) throw new InvalidArgumentError('onnx', 'no graph in the model');
  const graph = fields(model[graphIdx]!.payload!);
  const kept = graph.filter((f) => {
    if (f.no !== 11 || f.payload === undefined) return true;
    const nameField = fields(f.payload).find((g) => g.no === 1 && g.wire === 2);
    return nameField === undefined || Buffer.from(nameField.payload!).toString('utf8') !== name;
  });
  if (kept.length === graph.length) throw new InvalidArgumentError('onnx', `the graph has no input named ${name}`);
  const raw = new Uint8Array(4 * params.length);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < params.length; i++) dv.setFloat32(4 * i, params[i]!, true);
  const tensor = concatBytes(varintField(1, params.length), varintField(2, 1), lenField(8, utf8(name)), lenField(9, raw));
  const newGraph = concatBytes(...kept.map((f) => f.raw), lenField(5, tensor));
  return concatBytes(...model.map((f, i) => (i === graphIdx ? lenField(7, newGraph) : f.raw)));
}
