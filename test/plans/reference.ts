/**
 * Plain-TypeScript float64 reference of the builders' models (forward pass, per-sample loss and
 * per-sample gradients), written independently of the ONNX graphs to check them.
 */

/** Per-sample BCE on a logit. */
export function bce(z: number, y: number): number {
  return Math.max(z, 0) - y * z + Math.log1p(Math.exp(-Math.abs(z)));
}

/** Model description the reference understands. */
export type RefModel = { kind: 'logreg'; F: number } | { kind: 'mlp'; F: number; H: number; activation: 'tanh' | 'relu' };

/** Parameter count. */
export function refParamCount(m: RefModel): number {
  return m.kind === 'logreg' ? m.F + 1 : m.F * m.H + 2 * m.H + 1;
}

/** Logit of one row. */
export function refLogit(m: RefModel, p: ArrayLike<number>, x: ArrayLike<number>): number {
  if (m.kind === 'logreg') {
    let z = p[m.F]!;
    for (let j = 0; j < m.F; j++) z += p[j]! * x[j]!;
    return z;
  }
  const { F, H } = m;
  let z = p[F * H + 2 * H]!;
  for (let k = 0; k < H; k++) {
    let a = p[F * H + k]!;
    for (let j = 0; j < F; j++) a += x[j]! * p[j * H + k]!;
    const h = m.activation === 'tanh' ? Math.tanh(a) : Math.max(0, a);
    z += h * p[F * H + H + k]!;
  }
  return z;
}

/** Mean loss over rows of x (row-major, F columns). */
export function refLoss(m: RefModel, p: ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>): number {
  const B = y.length;
  let s = 0;
  for (let i = 0; i < B; i++) s += bce(refLogit(m, p, Array.from({ length: m.F }, (_, j) => x[i * m.F + j]!)), y[i]!);
  return s / B;
}

/** Per-sample gradients, B × P row-major, by analytic backprop in float64. */
export function refPerSampleGrads(m: RefModel, p: ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const B = y.length;
  const P = refParamCount(m);
  const F = m.F;
  const out = new Float64Array(B * P);
  for (let i = 0; i < B; i++) {
    const xi = Array.from({ length: F }, (_, j) => x[i * F + j]!);
    const r = 1 / (1 + Math.exp(-refLogit(m, p, xi))) - y[i]!;
    const g = out.subarray(i * P, (i + 1) * P);
    if (m.kind === 'logreg') {
      for (let j = 0; j < F; j++) g[j] = r * xi[j]!;
      g[F] = r;
      continue;
    }
    const H = m.H;
    for (let k = 0; k < H; k++) {
      let a = p[F * H + k]!;
      for (let j = 0; j < F; j++) a += xi[j]! * p[j * H + k]!;
      const h = m.activation === 'tanh' ? Math.tanh(a) : Math.max(0, a);
      const dAct = m.activation === 'tanh' ? 1 - h * h : a > 0 ? 1 : 0;
      const w2 = p[F * H + H + k]!;
      const da = r * w2 * dAct;
      for (let j = 0; j < F; j++) g[j * H + k] = xi[j]! * da;
      g[F * H + k] = da;
      g[F * H + H + k] = r * h;
    }
    g[F * H + 2 * H] = r;
  }
  return out;
}
