/**
 * The benchmark workloads of `npm run bench`: each is one training-step computation (value and
 * gradient, then a read of the scalar) in three forms — genloss's public API, the bare TF.js
 * formula written directly with `tf.*` ops, and (for the element-wise losses) genloss's fused
 * kernels — with the same name as its PyTorch twin in bench/torch_baseline.py.
 *
 * To add a workload: one entry in {@link WORKLOADS} and one in torch_baseline.py's WORKLOADS.
 */
import * as tf from '@tensorflow/tfjs';
import * as genloss from '../src/index.ts';

/** One timed step: computes, reads the loss value, frees everything it made. */
export type Step = () => void;

export interface Workload {
  name: string;
  /** What the ratio target is for this workload (docs/performance.md). */
  group: 'elementwise' | 'sobel' | 'gan' | 'penalty' | 'perceptual';
  shape: string;
  /** Iterations wanted, warm-up calls, time budget (s) per form and backend. */
  iters: number;
  warmup: number;
  budget: number;
  /** Whether the workload is run on the `cpu` backend (conv-heavy ones take minutes there). */
  onCpu: boolean;
  /** Creates the inputs (on the current backend). */
  setup(): Inputs;
  /**
   * The same inputs at 1×4×4×C: the step is then all per-call overhead, so genloss − bare on
   * these measures the cost of genloss's layers (validation, registry, reduction) exactly.
   */
  tiny?: () => Inputs;
  /** genloss's public API. */
  genloss: (x: Inputs) => Step;
  /** genloss through the fused kernels of src/backends (element-wise and Sobel losses). */
  fused?: (x: Inputs) => Step;
  /** The same computation in plain TF.js ops. */
  bare: (x: Inputs) => Step;
}

type Inputs = Record<string, tf.Tensor | tf.Tensor[]>;

/** `value, grads = valueAndGrads(f)(xs)`; reads the value. */
function stepOf(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: () => tf.Tensor[]): Step {
  return () => {
    tf.tidy(() => {
      const { value } = tf.valueAndGrads((...a: tf.Tensor[]) => f(...a) as tf.Scalar)(xs());
      value.dataSync();
    });
  };
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
    const w = tf.mul(tf.randomNormal([v, cin, 3, 3], 0, 1, 'float32', i), Math.sqrt(2 / (cin * 9)));
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
];
