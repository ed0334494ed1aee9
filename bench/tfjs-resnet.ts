/**
 * The ResNetV2-BiT of src/models written in TensorFlow.js ops (tfjs-core only, so it runs on any tfjs backend),
 * for the JS-peers bench (bench/js-peers.ts): NHWC activations, HWIO conv weights built from bit-ts's parameters
 * in parameter order (stem conv; per unit norm1, conv1, norm2, conv2, norm3, conv3, projection on unit 0; final
 * norm; 1x1 head with bias). Mode 'inference' standardizes the conv weights once when building (a deployed model);
 * 'training' standardizes them in the graph every call, as BiT does. GroupNorm eps 1e-5.
 */

import type * as TF from '@tensorflow/tfjs-core';

type Tf = typeof TF;

/** Architecture of the network (the bit-ts config it mirrors). */
export interface TfjsArch {
  readonly units: readonly number[];
  readonly base: number;
  readonly groups: number;
  readonly classes: number;
  readonly wsEps: number;
}

/** bit-ts parameters in order: values (OIHW for convs) and shapes. */
export interface FlatParams {
  readonly values: readonly Float32Array[];
  readonly shapes: readonly (readonly number[])[];
}

/**
 * Variables for every parameter (conv weights transposed OIHW -> HWIO) and `forward(x)` ([N, H, W, 3] -> logits
 * [N, classes]).
 */
export function tfjsResNetV2(tf: Tf, arch: TfjsArch, params: FlatParams, mode: 'inference' | 'training') {
  const vars = params.values.map((v, i) => {
    const s = params.shapes[i]!;
    const t = tf.tensor(v, [...s]);
    const hwio = s.length === 4 ? tf.transpose(t, [2, 3, 1, 0]) : t;
    const out = tf.variable(hwio);
    if (hwio !== t) hwio.dispose();
    t.dispose();
    return out;
  });
  let at = 0;
  const next = () => vars[at++]!;
  interface Conv {
    w: TF.Variable;
    stride: number;
    pad: number;
  }
  interface Gn {
    g: TF.Variable;
    b: TF.Variable;
  }
  const conv = (stride: number, pad: number): Conv => ({ w: next(), stride, pad });
  const gn = (): Gn => ({ g: next(), b: next() });
  const stem = conv(2, 3);
  const units: { n1: Gn; c1: Conv; n2: Gn; c2: Conv; n3: Gn; c3: Conv; down: Conv | null }[] = [];
  arch.units.forEach((n, s) => {
    for (let u = 0; u < n; u++) {
      const stride = u === 0 && s > 0 ? 2 : 1;
      const n1 = gn();
      const c1 = conv(1, 0);
      const n2 = gn();
      const c2 = conv(stride, 1);
      const n3 = gn();
      const c3 = conv(1, 0);
      units.push({ n1, c1, n2, c2, n3, c3, down: u === 0 ? conv(stride, 0) : null });
    }
  });
  const norm = gn();
  const headW = next();
  const headB = next();
  if (at !== vars.length) throw new Error(`tfjs-resnet: used ${at} of ${vars.length} parameters`);

  const standardize = (w: TF.Tensor4D): TF.Tensor4D => {
    const { mean, variance } = tf.moments(w, [0, 1, 2], true);
    return tf.div(tf.sub(w, mean), tf.sqrt(tf.add(variance, arch.wsEps))) as TF.Tensor4D;
  };
  const wsConvs = [stem, ...units.flatMap((u) => [u.c1, u.c2, u.c3, ...(u.down ? [u.down] : [])])];
  if (mode === 'inference') {
    for (const c of wsConvs) tf.tidy(() => c.w.assign(standardize(c.w as TF.Tensor4D)));
  }
  const std = (w: TF.Tensor4D): TF.Tensor4D => (mode === 'inference' ? w : standardize(w));
  const applyConv = (x: TF.Tensor4D, c: Conv): TF.Tensor4D => {
    const p = c.pad;
    const padded =
      p > 0
        ? tf.pad(x, [
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ])
        : x;
    return tf.conv2d(padded, std(c.w as TF.Tensor4D), c.stride, 'valid');
  };
  const applyGn = (x: TF.Tensor4D, n: Gn, relu: boolean): TF.Tensor4D => {
    const [N, H, W, C] = x.shape;
    const G = arch.groups;
    const r = tf.reshape(x, [N, H, W, G, C / G]);
    const { mean, variance } = tf.moments(r, [1, 2, 4], true);
    const y = tf.reshape(tf.mul(tf.sub(r, mean), tf.rsqrt(tf.add(variance, 1e-5))), [N, H, W, C]);
    const out = tf.add(tf.mul(y, n.g), n.b) as TF.Tensor4D;
    return relu ? tf.relu(out) : out;
  };
  const forward = (x: TF.Tensor4D): TF.Tensor2D => {
    let h = applyConv(x, stem);
    h = tf.maxPool(
      tf.pad(h, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]),
      3,
      2,
      'valid',
    );
    for (const u of units) {
      const p = applyGn(h, u.n1, true);
      const sc = u.down ? applyConv(p, u.down) : h;
      let y = applyConv(p, u.c1);
      y = applyConv(applyGn(y, u.n2, true), u.c2);
      y = applyConv(applyGn(y, u.n3, true), u.c3);
      h = tf.add(y, sc);
    }
    const pooled = tf.mean(applyGn(h, norm, true), [1, 2]);
    const [, , ci, co] = headW.shape;
    return tf.add(tf.matMul(pooled, tf.reshape(headW, [ci!, co!])), headB) as TF.Tensor2D;
  };
  return { vars, forward };
}
