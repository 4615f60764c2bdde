/**
 * The benchmark workloads of `npm run bench`: each is one training-step computation (value and
 * gradient, then a read of the scalar) in three forms — genloss's public API, the bare TF.js
 * formula written directly with `tf.*` ops, and (for the element-wise losses) genloss's fused
 * kernels — with the same name as its PyTorch twin in bench/torch_baseline.py.
 *
 * To add a workload: one entry in {@link WORKLOADS} and one in torch_baseline.py's WORKLOADS.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { parse } from 'yaml';
import { fusedGanLoss } from '../src/backends/fused/index.ts';
import * as genloss from '../src/index.ts';
import { shapesDataset } from '../src/train/datasets.ts';
import { Trainer } from '../src/train/trainer.ts';

/**
 * One timed step: computes, reads the loss value and returns it, frees everything it made. A step
 * that holds state (the demo's trainer) has `dispose`, called after its timing.
 */
export type Step = (() => number | Promise<number>) & { dispose?: () => void };

export interface Workload {
  name: string;
  /**
   * What the ratio target is for this workload (docs/performance.md); `'other'`: the losses of
   * other libraries (issue 16), which have none yet.
   */
  group: 'elementwise' | 'sobel' | 'gan' | 'penalty' | 'perceptual' | 'demo' | 'other';
  shape: string;
  /** Iterations wanted, warm-up calls, time budget (s) per form and backend. */
  iters: number;
  warmup: number;
  budget: number;
  /**
   * Whether the workload is run on the `cpu` backend (conv-heavy ones take minutes there). The
   * conv-heavy ones (false) are also the ones timed with genloss's native convolutions off.
   */
  onCpu: boolean;
  /** Training steps one timed step makes (the demo's: one R1 interval); 0 for a loss step. */
  trainSteps?: number;
  /** Creates the inputs (on the current backend). */
  setup(): Inputs;
  /**
   * The same inputs at 1×4×4×C: the step is then all per-call overhead, so genloss − bare on
   * these measures the cost of genloss's layers (validation, registry, reduction) exactly.
   */
  tiny?: () => Inputs;
  /** genloss's public API. */
  genloss: (x: Inputs) => Step;
  /** genloss's fused kernels called directly (src/backends/fused: pixel, Sobel, GAN losses). */
  fused?: (x: Inputs) => Step;
  /** The same computation in plain TF.js ops (none for the demo, which is genloss's trainer). */
  bare?: (x: Inputs) => Step;
}

type Inputs = Record<string, tf.Tensor | tf.Tensor[]>;

/** `value, grads = valueAndGrads(f)(xs)`; reads and returns the value. */
function stepOf(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: () => tf.Tensor[]): Step {
  return () =>
    tf.tidy(() => {
      const { value } = tf.valueAndGrads((...a: tf.Tensor[]) => f(...a) as tf.Scalar)(xs());
      return value.dataSync()[0];
    });
}

const IMAGE = [16, 256, 256, 3];

const TINY = [1, 4, 4, 3];

function pixelInputs(masked: boolean, shape = IMAGE): () => Inputs {
  return () => ({
    pred: tf.randomUniform(shape, -1, 1, 'float32', 1),
    target: tf.randomUniform(shape, -1, 1, 'float32', 2),
    ...(masked
      ? {
          weight: tf.cast(
            tf.greater(tf.randomUniform([...shape.slice(0, 3), 1], 0, 1, 'float32', 3), 0.5),
            'float32',
          ),
        }
      : {}),
  });
}

function elementwise(
  name: string,
  loss: 'l1' | 'mse' | 'charbonnier',
  lossFn: typeof genloss.l1Loss,
  masked = false,
): Workload {
  const bareElement = (d: tf.Tensor) =>
    loss === 'l1'
      ? tf.abs(d)
      : loss === 'mse'
        ? tf.square(d)
        : tf.sqrt(tf.add(tf.square(d), 1e-12));
  return {
    name,
    group: 'elementwise',
    shape: `16×3×256×256${masked ? ', mask 16×1×256×256' : ''}`,
    iters: 10,
    warmup: 2,
    budget: 6,
    onCpu: true,
    setup: pixelInputs(masked),
    tiny: pixelInputs(masked, TINY),
    genloss: (x) => {
      const t = x.target as tf.Tensor;
      const weight = (x.weight as tf.Tensor | undefined) ?? null;
      return stepOf(
        (p) => lossFn(p, t, { weight }),
        () => [x.pred as tf.Tensor],
      );
    },
    fused: (x) => {
      const t = x.target as tf.Tensor;
      const weight = (x.weight as tf.Tensor | undefined) ?? null;
      return stepOf(
        (p) => genloss.fusedPixelLoss(loss, p, t, { weight })!,
        () => [x.pred as tf.Tensor],
      );
    },
    bare: (x) => {
      const t = x.target as tf.Tensor;
      const w = x.weight as tf.Tensor | undefined;
      return stepOf(
        (p) => {
          const e = bareElement(tf.sub(p, t));
          if (!w) return tf.mean(e);
          return tf.div(tf.sum(tf.mul(e, w)), tf.add(tf.mul(tf.sum(w), 3), 1e-12));
        },
        () => [x.pred as tf.Tensor],
      );
    },
  };
}

const SOBEL = [1, 1, 0, 2, -1, 1, 2, 0, 0, 0, -2, 0, 1, -1, 0, -2, -1, -1];

function sobelInputs(shape: number[]): Inputs {
  return {
    pred: tf.randomUniform(shape, 0, 1, 'float32', 1),
    target: tf.randomUniform(shape, 0, 1, 'float32', 2),
    kernel: tf.tensor4d(SOBEL, [3, 3, 1, 2]),
  };
}

const sobel: Workload = {
  name: 'sobel',
  group: 'sobel',
  shape: '16×3×256×256',
  iters: 5,
  warmup: 1,
  budget: 15,
  onCpu: true,
  setup: () => sobelInputs(IMAGE),
  tiny: () => sobelInputs(TINY),
  genloss: (x) => {
    return stepOf(
      (p) => genloss.gradientLoss(p, x.target as tf.Tensor),
      () => [x.pred as tf.Tensor],
    );
  },
  fused: (x) =>
    stepOf(
      (p) => genloss.fusedGradientLoss(p, x.target as tf.Tensor)!,
      () => [x.pred as tf.Tensor],
    ),
  bare: (x) =>
    stepOf(
      (p) => {
        const [n, h, w, c] = p.shape;
        const planes = tf.reshape(tf.transpose(tf.sub(p, x.target as tf.Tensor), [0, 3, 1, 2]), [
          n * c,
          h,
          w,
          1,
        ]);
        const r = tf.conv2d(planes as tf.Tensor4D, x.kernel as tf.Tensor4D, 1, 'same');
        // mean|gx| + mean|gy| = 2 · mean over both response channels.
        return tf.mul(tf.mean(tf.abs(r)), 2);
      },
      () => [x.pred as tf.Tensor],
    ),
};

function ganWorkload(
  ganType: 'vanilla' | 'lsgan' | 'wgan' | 'hinge',
  label: string,
  shape: number[],
): Workload {
  const bare = (x: tf.Tensor, real: boolean): tf.Tensor => {
    switch (ganType) {
      case 'vanilla':
        return tf.losses.sigmoidCrossEntropy(tf.fill(x.shape, real ? 1 : 0), x);
      case 'lsgan':
        return tf.mean(tf.square(tf.sub(x, real ? 1 : 0)));
      case 'wgan':
        return real ? tf.neg(tf.mean(x)) : tf.mean(x);
      case 'hinge':
        return tf.mean(tf.relu(real ? tf.sub(1, x) : tf.add(1, x)));
    }
  };
  return {
    name: `gan_${ganType}_${label}`,
    group: 'gan',
    shape: shape.join('×'),
    iters: 50,
    warmup: 3,
    budget: 3,
    onCpu: true,
    setup: () => ({
      real: tf.randomNormal(shape, 0, 1, 'float32', 1),
      fake: tf.randomNormal(shape, 0, 1, 'float32', 2),
    }),
    genloss: (x) => {
      const module = new genloss.GANLoss({ gan_type: ganType });
      return stepOf(
        (r, f) => tf.add(module.forward(r, true, true), module.forward(f, false, true)),
        () => [x.real as tf.Tensor, x.fake as tf.Tensor],
      );
    },
    fused: (x) => {
      const call = (v: tf.Tensor, real: boolean) =>
        fusedGanLoss(ganType, v, { target_is_real: real, is_disc: true, label: real ? 1 : 0 })!;
      return stepOf(
        (r, f) => tf.add(call(r, true), call(f, false)),
        () => [x.real as tf.Tensor, x.fake as tf.Tensor],
      );
    },
    bare: (x) =>
      stepOf(
        (r, f) => tf.add(bare(r, true), bare(f, false)),
        () => [x.real as tf.Tensor, x.fake as tf.Tensor],
      ),
  };
}

/** The 4-layer conv D of the penalty workloads: three 4×4/2 convs with leaky ReLU, one 8×8. */
function discriminatorParams(): tf.Tensor[] {
  const conv = (cin: number, cout: number, k: number, seed: number) => [
    tf.mul(tf.randomNormal([k, k, cin, cout], 0, 1, 'float32', seed), Math.sqrt(2 / (cin * k * k))),
    tf.zeros([cout]),
  ];
  return [
    ...conv(3, 64, 4, 1),
    ...conv(64, 128, 4, 2),
    ...conv(128, 256, 4, 3),
    ...conv(256, 1, 8, 4),
  ];
}

function discriminator(params: tf.Tensor[]): (x: tf.Tensor) => tf.Tensor {
  return (x) => {
    let h = x as tf.Tensor4D;
    for (let i = 0; i < 3; i++) {
      const conv = tf.conv2d(h, params[2 * i] as tf.Tensor4D, 2, 'same');
      h = tf.leakyRelu(tf.add(conv, params[2 * i + 1]), 0.2) as tf.Tensor4D;
    }
    return tf.add(tf.conv2d(h, params[6] as tf.Tensor4D, 1, 'valid'), params[7]);
  };
}

function penaltyWorkload(kind: 'gp' | 'r1'): Workload {
  // The last bias does not reach the input gradient, so it has no penalty gradient.
  const trained = (x: Inputs) => (x.params as tf.Tensor[]).slice(0, 7);
  const withParams = (x: Inputs, f: (d: (x: tf.Tensor) => tf.Tensor) => tf.Tensor) =>
    stepOf(
      (...ps) => f(discriminator([...ps, (x.params as tf.Tensor[])[7]])),
      () => trained(x),
    );
  return {
    name: kind === 'gp' ? 'wgan_gp_step' : 'r1_step',
    group: 'penalty',
    shape: '16×3×64×64, D 3→64→128→256→1',
    iters: 5,
    warmup: 1,
    budget: 25,
    onCpu: false,
    setup: () => ({
      params: discriminatorParams(),
      real: tf.randomUniform([16, 64, 64, 3], -1, 1, 'float32', 5),
      fake: tf.randomUniform([16, 64, 64, 3], -1, 1, 'float32', 6),
    }),
    genloss: (x) =>
      withParams(x, (d) =>
        kind === 'gp'
          ? genloss.gradientPenaltyLoss(d, x.real as tf.Tensor, x.fake as tf.Tensor, {
              norm_mode: 'pixel',
            })
          : genloss.r1GradientPenaltyLoss(d, x.real as tf.Tensor, { norm_mode: 'pixel' }),
      ),
    bare: (x) =>
      withParams(x, (d) => {
        const real = x.real as tf.Tensor;
        let at = real;
        if (kind === 'gp') {
          const alpha = tf.randomUniform([16, 1, 1, 1]);
          at = tf.add(tf.mul(alpha, real), tf.mul(tf.sub(1, alpha), x.fake as tf.Tensor));
        }
        const g = tf.grad((v: tf.Tensor) => tf.sum(d(v)))(at);
        if (kind === 'r1') return tf.div(tf.sum(tf.square(g)), 16 * 64 * 64);
        const norm = tf.sqrt(tf.add(tf.sum(tf.square(g), 3), 1e-30));
        return tf.mean(tf.square(tf.sub(norm, 1)));
      }),
  };
}

const VGG19 = [
  64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512,
];
/** relu1_2, relu2_2, relu3_4, relu4_4, relu5_4 (torchvision indices). */
const TAPS = ['3', '8', '17', '26', '35'];

/** torchvision's state-dict keys of VGG19's convs up to conv5_4, weight then bias. */
function vggKeys(): string[] {
  const keys: string[] = [];
  let index = 0;
  for (const v of VGG19) {
    if (v !== 0) keys.push(`features.${index}.weight`, `features.${index}.bias`);
    index += v === 0 ? 1 : 2;
  }
  return keys;
}

/** Random He-initialised VGG19 convs in {@link vggKeys} order (weights OIHW, as torchvision). */
function vggWeights(): tf.Tensor[] {
  let cin = 3;
  return VGG19.filter((v) => v !== 0).flatMap((v, i) => {
    const w = tf.mul(
      tf.randomNormal([v, cin, 3, 3], 0, 1, 'float32', i + 1),
      Math.sqrt(2 / (cin * 9)),
    );
    cin = v;
    return [w, tf.zeros([v])];
  });
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

const perceptual: Workload = {
  name: 'perceptual_vgg19',
  group: 'perceptual',
  shape: '2×3×128×128, VGG19 to conv5_4',
  iters: 5,
  warmup: 1,
  budget: 40,
  onCpu: false,
  setup: () => {
    const weights = vggWeights();
    return {
      x: tf.randomUniform([2, 128, 128, 3], 0, 1, 'float32', 1),
      gt: tf.randomUniform([2, 128, 128, 3], 0, 1, 'float32', 2),
      weights,
      // HWIO copies for the bare formula.
      hwio: weights.map((t) => (t.rank === 4 ? tf.transpose(t, [2, 3, 1, 0]) : tf.clone(t))),
    };
  },
  genloss: (x) => {
    const keys = vggKeys();
    const map = Object.fromEntries((x.weights as tf.Tensor[]).map((t, i) => [keys[i], t]));
    const vgg = genloss.VGGFeatures.load('vgg19', genloss.tensorMapSource(map), { upTo: 35 });
    const loss = new genloss.PerceptualLoss(
      {
        layer_weights: Object.fromEntries(TAPS.map((k) => [k, 1])),
        style_weight: 0,
        norm_img: false,
        use_input_norm: true,
        criterion: 'l1',
      },
      vgg,
    );
    return stepOf(
      (p) => loss.forward(p, x.gt as tf.Tensor)[0] as tf.Tensor,
      () => [x.x as tf.Tensor],
    );
  },
  bare: (x) => {
    const params = x.hwio as tf.Tensor[];
    const mean = tf.tensor1d(MEAN);
    const std = tf.tensor1d(STD);
    const features = (img: tf.Tensor) => {
      const out: tf.Tensor[] = [];
      let h = tf.div(tf.sub(img, mean), std) as tf.Tensor4D;
      let index = 0;
      let k = 0;
      for (const v of VGG19) {
        if (v === 0) {
          h = tf.maxPool(h, 2, 2, 'valid');
          index += 1;
          continue;
        }
        const conv = tf.conv2d(h, params[2 * k] as tf.Tensor4D, 1, 'same');
        h = tf.relu(tf.add(conv, params[2 * k + 1])) as tf.Tensor4D;
        k += 1;
        if (TAPS.includes(String(index + 1))) out.push(h);
        index += 2;
      }
      return out;
    };
    return stepOf(
      (p) => {
        const fx = features(p);
        // Only pred is differentiated, so nothing flows into the target's features.
        const fg = features(x.gt as tf.Tensor);
        return tf.addN(fx.map((f, i) => tf.mean(tf.abs(tf.sub(f, fg[i])))));
      },
      () => [x.x as tf.Tensor],
    );
  },
};

/** An element-wise robust loss over the 16×256×256×3 images, as `elementwise` without mask. */
function robust(
  name: string,
  lossFn: (p: tf.Tensor, t: tf.Tensor) => tf.Tensor,
  bareElement: (d: tf.Tensor) => tf.Tensor,
): Workload {
  return {
    name,
    group: 'other',
    shape: '16×3×256×256',
    iters: 10,
    warmup: 2,
    budget: 6,
    onCpu: true,
    setup: pixelInputs(false),
    tiny: pixelInputs(false, TINY),
    genloss: (x) =>
      stepOf(
        (p) => lossFn(p, x.target as tf.Tensor),
        () => [x.pred as tf.Tensor],
      ),
    bare: (x) =>
      stepOf(
        (p) => tf.mean(bareElement(tf.sub(p, x.target as tf.Tensor))),
        () => [x.pred as tf.Tensor],
      ),
  };
}

/** Barron's general loss at α = 0.5, c = 0.1 (the general branch, not a limit). */
const ROBUST_ALPHA = 0.5;
const ROBUST_SCALE = 0.1;

/**
 * piq's Gaussian window (11 taps, σ 1.5, normalised) as its separable H and W factors, depthwise
 * filters for the five stacked maps of {@link bareSsim} (5 × 3 channels).
 */
function ssimWindows(): tf.Tensor[] {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)));
  const sum = g.reduce((a, b) => a + b, 0);
  const taps = g.flatMap((v) => Array(15).fill(v / sum));
  return [tf.tensor4d(taps, [11, 1, 15, 1]), tf.tensor4d(taps, [1, 11, 15, 1])];
}

/** piq's `_ssim_per_channel` (k1 0.01, k2 0.03, 'valid'): the mean SSIM and CS, N×C each. */
function bareSsim(x: tf.Tensor, y: tf.Tensor, windows: tf.Tensor[]): [tf.Tensor, tf.Tensor] {
  const [gh, gw] = windows as tf.Tensor4D[];
  const stacked = tf.concat([x, y, tf.square(x), tf.square(y), tf.mul(x, y)], 3) as tf.Tensor4D;
  const maps = tf.depthwiseConv2d(tf.depthwiseConv2d(stacked, gh, 1, 'valid'), gw, 1, 'valid');
  const [mx, my, xx, yy, xy] = tf.split(maps, 5, 3);
  const mx2 = tf.square(mx);
  const my2 = tf.square(my);
  const mxy = tf.mul(mx, my);
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const cs = tf.div(
    tf.add(tf.mul(tf.sub(xy, mxy), 2), c2),
    tf.add(tf.add(tf.sub(xx, mx2), tf.sub(yy, my2)), c2),
  );
  const ssim = tf.mul(tf.div(tf.add(tf.mul(mxy, 2), c1), tf.add(tf.add(mx2, my2), c1)), cs);
  return [tf.mean(ssim, [1, 2]), tf.mean(cs, [1, 2])];
}

/** The MS-SSIM paper's five scale weights (piq's default, normalised by its class). */
const MS_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/** Four images: 256 px is over MS-SSIM's minimum (161) for five scales; PyTorch takes seconds. */
const SSIM_SHAPE = [4, 256, 256, 3];

function ssimWorkload(multiScale: boolean): Workload {
  const inputs = (shape: number[]) => () => ({
    x: tf.randomUniform(shape, 0, 1, 'float32', 1),
    y: tf.randomUniform(shape, 0, 1, 'float32', 2),
    windows: ssimWindows(),
  });
  return {
    name: multiScale ? 'ms_ssim' : 'ssim',
    group: 'other',
    shape: '4×3×256×256',
    iters: 3,
    warmup: 1,
    budget: 15,
    onCpu: true,
    setup: inputs(SSIM_SHAPE),
    genloss: (x) => {
      const loss = multiScale ? new genloss.MultiScaleSSIMLoss({}) : new genloss.SSIMLoss({});
      return stepOf(
        (p) => loss.forward(p, x.y as tf.Tensor),
        () => [x.x as tf.Tensor],
      );
    },
    bare: (x) =>
      stepOf(
        (p) => {
          const windows = x.windows as tf.Tensor[];
          if (!multiScale) return tf.sub(1, tf.mean(bareSsim(p, x.y as tf.Tensor, windows)[0]));
          // 256 halves evenly down to 16: piq's replicate padding adds nothing here.
          const total = MS_WEIGHTS.reduce((a, b) => a + b, 0);
          let [a, b] = [p, x.y as tf.Tensor];
          let product: tf.Tensor = tf.scalar(1);
          MS_WEIGHTS.forEach((w, i) => {
            const [ssim, cs] = bareSsim(a, b, windows);
            const last = i === MS_WEIGHTS.length - 1;
            product = tf.mul(product, tf.pow(tf.relu(last ? ssim : cs), w / total));
            a = tf.avgPool(a as tf.Tensor4D, 2, 2, 'valid');
            b = tf.avgPool(b as tf.Tensor4D, 2, 2, 'valid');
          });
          return tf.sub(1, tf.mean(product));
        },
        () => [x.x as tf.Tensor],
      ),
  };
}

/**
 * The orthonormal DFT of a size-n axis as cos and sin matrices divided by √n (symmetric), for
 * the bare focal frequency loss: `Y = (C − iS) X (C − iS)`.
 */
function dftMatrices(n: number): tf.Tensor[] {
  const angle = tf.mul(tf.outerProduct(tf.range(0, n), tf.range(0, n)), (2 * Math.PI) / n);
  return [tf.div(tf.cos(angle), Math.sqrt(n)), tf.div(tf.sin(angle), Math.sqrt(n))];
}

/** `x · m` on the last axis of a B×H×W tensor. */
const rightMul = (x: tf.Tensor, m: tf.Tensor) => {
  const [b, h, w] = x.shape as number[];
  return tf.reshape(tf.matMul(tf.reshape(x, [b * h, w]) as tf.Tensor2D, m as tf.Tensor2D), [
    b,
    h,
    w,
  ]);
};
/** `m · x` on the middle axis of a B×H×W tensor (m symmetric). */
const leftMul = (x: tf.Tensor, m: tf.Tensor) =>
  tf.transpose(rightMul(tf.transpose(x, [0, 2, 1]), m), [0, 2, 1]);

const FFL_SHAPE = [8, 128, 128, 3];

const focalFrequency: Workload = {
  name: 'focal_frequency',
  group: 'other',
  shape: '8×3×128×128, alpha 1',
  iters: 5,
  warmup: 1,
  budget: 15,
  onCpu: true,
  setup: () => ({
    pred: tf.randomUniform(FFL_SHAPE, 0, 1, 'float32', 1),
    target: tf.randomUniform(FFL_SHAPE, 0, 1, 'float32', 2),
    dft: dftMatrices(128),
  }),
  genloss: (x) => {
    const loss = new genloss.FocalFrequencyLoss({});
    return stepOf(
      (p) => loss.forward(p, x.target as tf.Tensor),
      () => [x.pred as tf.Tensor],
    );
  },
  bare: (x) => {
    const [c, s] = x.dft as tf.Tensor[];
    // The spectrum weight |ΔY| / max |ΔY| (per image and channel), with a zero gradient.
    const detachedWeight = tf.customGrad(((d2: tf.Tensor) => {
      const m = tf.sqrt(d2);
      return {
        value: tf.clipByValue(tf.div(m, tf.max(m, [1, 2], true)), 0, 1),
        gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return stepOf(
      (p) => {
        const [n, h, w, ch] = p.shape as number[];
        const d = tf.reshape(tf.transpose(tf.sub(p, x.target as tf.Tensor), [0, 3, 1, 2]), [
          n * ch,
          h,
          w,
        ]);
        const dc = rightMul(d, c);
        const ds = rightMul(d, s);
        const re = tf.sub(leftMul(dc, c), leftMul(ds, s));
        const im = tf.neg(tf.add(leftMul(dc, s), leftMul(ds, c)));
        const d2 = tf.add(tf.square(re), tf.square(im));
        return tf.mean(tf.mul(detachedWeight(d2), d2));
      },
      () => [x.pred as tf.Tensor],
    );
  },
};

/** pix2pixHD's features of three discriminators (8 images): per D, three feature maps and its prediction. */
function discriminatorOutputs(seed: number): tf.Tensor[][] {
  return [0, 1, 2].map((i) => {
    const size = 64 >> i;
    return [
      [8, size, size, 64],
      [8, size >> 1, size >> 1, 128],
      [8, size >> 2, size >> 2, 256],
      [8, size >> 2, size >> 2, 1],
    ].map((shape, j) => tf.randomNormal(shape, 0, 1, 'float32', seed + 10 * i + j));
  });
}

const ganFeat: Workload = {
  name: 'gan_feat',
  group: 'other',
  shape: '3 D × (8×64×64×64, 8×32×32×128, 8×16×16×256 at 1, ½, ¼ size)',
  iters: 20,
  warmup: 2,
  budget: 5,
  onCpu: true,
  setup: () => {
    const fake = discriminatorOutputs(1);
    // Only the features are differentiated: the predictions do not enter the loss.
    return {
      fakeFeatures: fake.flatMap((d) => d.slice(0, 3)),
      fakePredictions: fake.map((d) => d[3]),
      real: discriminatorOutputs(100).flat(),
    };
  },
  genloss: (x) => {
    const loss = new genloss.GANFeatLoss({});
    const predictions = x.fakePredictions as tf.Tensor[];
    const real = x.real as tf.Tensor[];
    const realNested = [0, 1, 2].map((i) => real.slice(4 * i, 4 * i + 4));
    return stepOf(
      (...features) =>
        loss.forward(
          [0, 1, 2].map((i) => [...features.slice(3 * i, 3 * i + 3), predictions[i]]),
          realNested,
        ),
      () => x.fakeFeatures as tf.Tensor[],
    );
  },
  bare: (x) => {
    const real = (x.real as tf.Tensor[]).filter((_, k) => k % 4 !== 3);
    return stepOf(
      (...features) =>
        tf.div(tf.addN(features.map((f, k) => tf.mean(tf.abs(tf.sub(f, real[k]))))), 3),
      () => x.fakeFeatures as tf.Tensor[],
    );
  },
};

const RELATIVISTIC_SHAPE = [16, 30, 30, 1];

const relativistic: Workload = {
  name: 'relativistic_vanilla_patch',
  group: 'gan',
  shape: '16×30×30×1, average, D loss',
  iters: 50,
  warmup: 3,
  budget: 3,
  onCpu: true,
  setup: () => ({
    real: tf.randomNormal(RELATIVISTIC_SHAPE, 0, 1, 'float32', 1),
    fake: tf.randomNormal(RELATIVISTIC_SHAPE, 0, 1, 'float32', 2),
  }),
  genloss: (x) => {
    const loss = new genloss.RelativisticGANLoss({ gan_type: 'vanilla' });
    return stepOf(
      (r, f) => loss.forward(r, f, true),
      () => [x.real as tf.Tensor, x.fake as tf.Tensor],
    );
  },
  bare: (x) =>
    stepOf(
      (r, f) =>
        tf.add(
          tf.mean(tf.softplus(tf.neg(tf.sub(r, tf.mean(f))))),
          tf.mean(tf.softplus(tf.sub(f, tf.mean(r)))),
        ),
      () => [x.real as tf.Tensor, x.fake as tf.Tensor],
    ),
};

/** Training steps per timed demo step: one interval of the demo's lazy R1 (every 8 D steps). */
const DEMO_INTERVAL = 8;

/**
 * `npm start`'s training step: configs/demo.yaml's GAN (DCGAN G 64 channels, D 16 channels with
 * minibatch stddev, hinge loss, lazy R1 every 8 steps, disc shift, EMA of G, batch 32 of 32×32
 * shapes) through genloss's own `Trainer.trainStep`, as the CLI runs it. One timed step is
 * {@link DEMO_INTERVAL} training steps (one with R1, seven without); its value is the first
 * one's discriminator loss. Its twin is `demo` in torch_baseline.py.
 */
const demo: Workload = {
  name: 'demo_step',
  group: 'demo',
  shape: `${DEMO_INTERVAL} steps of configs/demo.yaml, batch 32×3×32×32`,
  iters: 3,
  warmup: 1,
  budget: 30,
  onCpu: false,
  trainSteps: DEMO_INTERVAL,
  setup: () => ({}),
  genloss: () => {
    const cfg = parse(readFileSync(new URL('../configs/demo.yaml', import.meta.url), 'utf8'));
    const { num_images, size, seed } = cfg.data;
    const trainer = new Trainer(cfg, shapesDataset(num_images, size, seed));
    const step: Step = async () => {
      let first = Number.NaN;
      for (let i = 0; i < DEMO_INTERVAL; i++) {
        const log = await trainer.trainStep();
        if (i === 0) first = log.loss;
      }
      return first;
    };
    step.dispose = () => trainer.dispose();
    return step;
  },
};

/** Every workload, in report order. */
export const WORKLOADS: Workload[] = [
  elementwise('l1', 'l1', genloss.l1Loss),
  elementwise('mse', 'mse', genloss.mseLoss),
  elementwise('charbonnier', 'charbonnier', genloss.charbonnierLoss),
  elementwise('charbonnier_masked', 'charbonnier', genloss.charbonnierLoss, true),
  sobel,
  ...(['vanilla', 'lsgan', 'wgan', 'hinge'] as const).flatMap((t) => [
    ganWorkload(t, '64x1', [64, 1]),
    ganWorkload(t, 'patch', [16, 30, 30, 1]),
  ]),
  penaltyWorkload('gp'),
  penaltyWorkload('r1'),
  perceptual,
  ssimWorkload(false),
  ssimWorkload(true),
  robust('cauchy', genloss.cauchyLoss, (d) => tf.log1p(tf.mul(tf.square(d), 0.5))),
  robust(
    'general_robust',
    (p, t) => genloss.generalRobustLoss(p, t, { alpha: ROBUST_ALPHA, scale: ROBUST_SCALE }),
    (d) => {
      const b = Math.abs(ROBUST_ALPHA - 2);
      const z = tf.div(tf.square(tf.div(d, ROBUST_SCALE)), b);
      return tf.mul(tf.expm1(tf.mul(tf.log1p(z), ROBUST_ALPHA / 2)), b / ROBUST_ALPHA);
    },
  ),
  focalFrequency,
  ganFeat,
  relativistic,
  demo,
];
