/**
 * MMagic's loss formulas, transcribed from its Python (mmagic/models/losses: pixelwise_loss.py,
 * loss_wrapper.py, composition_loss.py, gradient_loss.py) into plain TF.js ops, importing nothing
 * from src/: the independent values the loss tests compare genloss's modules with. Each follows
 * MMagic's code line by line rather than genloss's (which, for instance, counts a 1-channel weight
 * C times instead of expanding it, and filters `pred − target` once instead of each input).
 */
import * as tf from '@tensorflow/tfjs';

/** MMagic's `reduction` values. */
export type Reduction = 'none' | 'mean' | 'sum';

/** The keyword arguments of MMagic's `mask_reduce_loss`. */
export interface MaskReduceArgs {
  /** N×H×W×1 or N×H×W×C; none by default. */
  weight?: tf.Tensor | null;
  /** Default `'mean'`. */
  reduction?: Reduction;
  /** Default false. */
  sample_wise?: boolean;
}

/**
 * MMagic's `mask_reduce_loss`: `loss·weight`; without a weight, or for `'sum'`/`'none'`, the
 * plain reduction of that; for `'mean'` with a weight, the weight expanded to the loss's channels
 * (`weight.expand_as(loss)`) and `Σ(loss·w) / (Σ w + 1e-12)`, or with `sample_wise`
 * `Σ(loss·w / (Σ_sample w + 1e-12)) / N`.
 */
export function maskReduce(
  loss: tf.Tensor,
  { weight = null, reduction = 'mean', sample_wise = false }: MaskReduceArgs = {},
): tf.Tensor {
  return tf.tidy(() => {
    const weighted = weight === null ? loss : tf.mul(loss, weight);
    if (reduction === 'none') return weighted;
    if (weight === null || reduction === 'sum') {
      return reduction === 'sum' ? tf.sum(weighted) : tf.mean(weighted);
    }
    const expanded = tf.broadcastTo(weight, loss.shape);
    const eps = 1e-12;
    if (!sample_wise) return tf.div(tf.sum(weighted), tf.add(tf.sum(expanded), eps));
    const perSample = tf.sum(expanded, [1, 2, 3], true);
    return tf.div(tf.sum(tf.div(weighted, tf.add(perSample, eps))), loss.shape[0]);
  });
}

/** The element-wise losses of MMagic's pixel-wise family. */
export type PixelKind = 'l1' | 'mse' | 'charbonnier';

/**
 * MMagic's `l1_loss`, `mse_loss` and `charbonnier_loss` (`sqrt((pred − target)² + eps)`, eps
 * 1e-12 by default), each masked and reduced by {@link maskReduce}.
 */
export function pixelLoss(
  kind: PixelKind,
  pred: tf.Tensor,
  target: tf.Tensor,
  { eps = 1e-12, ...reduce }: MaskReduceArgs & { eps?: number } = {},
): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.sub(pred, target);
    const elements =
      kind === 'l1'
        ? tf.abs(d)
        : kind === 'mse'
          ? tf.square(d)
          : tf.sqrt(tf.add(tf.square(d), eps));
    return maskReduce(elements, reduce);
  });
}

/** The matting composite of MMagic's composition losses: `α·fg + (1 − α)·bg`. */
export function composite(alpha: tf.Tensor, fg: tf.Tensor, bg: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(alpha, fg), tf.mul(tf.sub(1, alpha), bg)));
}

/** MMagic's `GradientLoss` Sobel x kernel, as written there: `[[1, 0, −1], [2, 0, −2], [1, 0, −1]]`. */
const SOBEL_X = [
  [1, 0, -1],
  [2, 0, -2],
  [1, 0, -1],
];

/** MMagic's Sobel y kernel: `[[1, 2, 1], [0, 0, 0], [−1, −2, −1]]`. */
const SOBEL_Y = [
  [1, 2, 1],
  [0, 0, 0],
  [-1, -2, -1],
];

/**
 * `F.conv2d(x, taps, padding=1)` on every channel (a cross-correlation), written as the sum of
 * the nine shifted slices of the zero-padded input times their taps: no convolution op.
 */
function correlate3x3(x: tf.Tensor, taps: number[][]): tf.Tensor {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const padded = tf.pad(x, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const terms = taps.flatMap((row, i) =>
      row.map((tap, j) => tf.mul(tf.slice(padded, [0, i, j, 0], [n, h, w, c]), tap)),
    );
    return tf.addN(terms);
  });
}

/**
 * MMagic's `GradientLoss` with loss_weight 1: `l1_loss(kx∗pred, kx∗target, weight, reduction) +
 * l1_loss(ky∗pred, ky∗target, weight, reduction)`, each input filtered on its own.
 */
export function gradientLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  reduce: Omit<MaskReduceArgs, 'sample_wise'> = {},
): tf.Tensor {
  return tf.tidy(() =>
    tf.add(
      pixelLoss('l1', correlate3x3(pred, SOBEL_X), correlate3x3(target, SOBEL_X), reduce),
      pixelLoss('l1', correlate3x3(pred, SOBEL_Y), correlate3x3(target, SOBEL_Y), reduce),
    ),
  );
}

/**
 * MMagic's `MaskedTVLoss` with loss_weight 1: the L1 mean between neighbouring rows, weighted by
 * the mask without its last row, plus the same between neighbouring columns.
 */
export function maskedTV(pred: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  const [n, h, w, c] = pred.shape;
  const mc = mask.shape[3] as number;
  return tf.tidy(() => {
    const rows = pixelLoss(
      'l1',
      tf.slice(pred, [0, 0, 0, 0], [n, h - 1, w, c]),
      tf.slice(pred, [0, 1, 0, 0], [n, h - 1, w, c]),
      { weight: tf.slice(mask, [0, 0, 0, 0], [n, h - 1, w, mc]) },
    );
    const cols = pixelLoss(
      'l1',
      tf.slice(pred, [0, 0, 0, 0], [n, h, w - 1, c]),
      tf.slice(pred, [0, 0, 1, 0], [n, h, w - 1, c]),
      { weight: tf.slice(mask, [0, 0, 0, 0], [n, h, w - 1, mc]) },
    );
    return tf.add(rows, cols);
  });
}

/**
 * MMagic's `psnr_loss` with loss_weight 1: `10 / ln 10 · mean_n log(mean_{H,W,C}(pred − target)²
 * + 1e-8)`, the negative PSNR in dB for data range 1.
 */
export function psnr(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const mse = tf.mean(tf.square(tf.sub(pred, target)), [1, 2, 3]);
    return tf.mul(tf.mean(tf.log(tf.add(mse, 1e-8))), 10 / Math.LN10);
  });
}

/** The robust losses of genloss's robust family (kornia, PyTorch and Barron's definitions). */
export type RobustKind =
  | 'cauchy'
  | 'welsch'
  | 'geman-mcclure'
  | 'huber'
  | 'smooth-l1'
  | 'general-robust';

/** The hyper-parameters of {@link robustLoss}: `delta`, `beta`, `alpha`, `scale` (each 1.0). */
export interface RobustArgs extends MaskReduceArgs {
  delta?: number;
  beta?: number;
  alpha?: number;
  scale?: number;
}

/**
 * The robust losses of `x = pred − target`, element-wise, then masked and reduced by
 * {@link maskReduce}: kornia's `cauchy_loss` `log(½x² + 1)`, `welsch_loss` `1 − exp(−½x²)`,
 * `geman_mcclure_loss` `2x² / (x² + 4)`; PyTorch's Huber (`½x²` if `|x| < δ`, else
 * `δ(|x| − ½δ)`) and smooth L1 (`½x²/β` if `|x| < β`, else `|x| − ½β`; `|x|` for β = 0); and
 * Barron's `|α − 2|/α · (((x/c)²/|α − 2| + 1)^(α/2) − 1)`, `½(x/c)²` at α = 2 and
 * `log(½(x/c)² + 1)` at α = 0. Written with `pow`, `log` and `exp`, not the `log1p`/`expm1` forms.
 */
export function robustLoss(
  kind: RobustKind,
  pred: tf.Tensor,
  target: tf.Tensor,
  { delta = 1, beta = 1, alpha = 1, scale = 1, ...reduce }: RobustArgs = {},
): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.sub(pred, target);
    const x2 = tf.square(x);
    const ax = tf.abs(x);
    let e: tf.Tensor;
    switch (kind) {
      case 'cauchy':
        e = tf.log(tf.add(tf.mul(x2, 0.5), 1));
        break;
      case 'welsch':
        e = tf.sub(1, tf.exp(tf.mul(x2, -0.5)));
        break;
      case 'geman-mcclure':
        e = tf.div(tf.mul(x2, 2), tf.add(x2, 4));
        break;
      case 'huber':
        e = tf.where(tf.less(ax, delta), tf.mul(x2, 0.5), tf.mul(tf.sub(ax, delta / 2), delta));
        break;
      case 'smooth-l1':
        e =
          beta === 0
            ? ax
            : tf.where(tf.less(ax, beta), tf.div(tf.mul(x2, 0.5), beta), tf.sub(ax, beta / 2));
        break;
      case 'general-robust': {
        const z = tf.div(x2, scale * scale);
        const b = Math.abs(alpha - 2);
        e =
          alpha === 2
            ? tf.mul(z, 0.5)
            : alpha === 0
              ? tf.log(tf.add(tf.mul(z, 0.5), 1))
              : tf.mul(tf.sub(tf.pow(tf.add(tf.div(z, b), 1), alpha / 2), 1), b / alpha);
        break;
      }
    }
    return maskReduce(e, reduce);
  });
}

// --- SSIM and MS-SSIM (piq's ssim.py, ms_ssim.py) ---------------------------------------------

/** The keys of piq's `ssim` / `multi_scale_ssim` that {@link ssimFormula} takes. */
export interface SsimFormulaArgs {
  kernel_size?: number;
  kernel_sigma?: number;
  data_range?: number;
  k1?: number;
  k2?: number;
  downsample?: boolean;
  /** Given: MS-SSIM with these (normalised) weights; absent: SSIM. */
  scale_weights?: number[];
}

/**
 * piq's SSIM (no `scale_weights`) or MS-SSIM, per image (N values), line by line: the 2-D
 * Gaussian window `exp(−(i² + j²)/(2σ²))` normalised, a 'valid' conv2d per channel (one channel
 * at a time), the SSIM/CS maps, means over pixels then channels; MS-SSIM's replicate padding
 * and 2×2 average pool between scales, relu, power, product. NHWC.
 */
export function ssimFormula(x: tf.Tensor, y: tf.Tensor, args: SsimFormulaArgs = {}): tf.Tensor {
  const { kernel_size: k = 11, kernel_sigma: s = 1.5, data_range: r = 1 } = args;
  const { k1 = 0.01, k2 = 0.03, downsample = true, scale_weights } = args;
  return tf.tidy(() => {
    const g: number[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const [a, b] = [i - (k - 1) / 2, j - (k - 1) / 2];
        g.push(Math.exp(-(a * a + b * b) / (2 * s * s)));
      }
    }
    const total = g.reduce((p, q) => p + q, 0);
    const win = tf.tensor4d(
      g.map((v) => v / total),
      [k, k, 1, 1],
    );
    const conv = (t: tf.Tensor4D) =>
      tf.concat(
        tf.split(t, t.shape[3], 3).map((ch) => tf.conv2d(ch as tf.Tensor4D, win, 1, 'valid')),
        3,
      );
    const perChannel = (a: tf.Tensor4D, b: tf.Tensor4D) => {
      const [c1, c2] = [k1 * k1, k2 * k2];
      const [muX, muY] = [conv(a), conv(b)];
      const sXX = tf.sub(conv(tf.mul(a, a) as tf.Tensor4D), tf.mul(muX, muX));
      const sYY = tf.sub(conv(tf.mul(b, b) as tf.Tensor4D), tf.mul(muY, muY));
      const sXY = tf.sub(conv(tf.mul(a, b) as tf.Tensor4D), tf.mul(muX, muY));
      const cs = tf.div(tf.add(tf.mul(sXY, 2), c2), tf.add(tf.add(sXX, sYY), c2));
      const lum = tf.div(
        tf.add(tf.mul(tf.mul(muX, muY), 2), c1),
        tf.add(tf.add(tf.mul(muX, muX), tf.mul(muY, muY)), c1),
      );
      return [tf.mean(tf.mul(lum, cs), [1, 2]), tf.mean(cs, [1, 2])];
    };
    let a = tf.div(x, r) as tf.Tensor4D;
    let b = tf.div(y, r) as tf.Tensor4D;
    if (scale_weights === undefined) {
      const f = Math.max(1, Math.round(Math.min(a.shape[1], a.shape[2]) / 256));
      if (f > 1 && downsample) {
        a = tf.avgPool(a, f, f, 'valid');
        b = tf.avgPool(b, f, f, 'valid');
      }
      return tf.mean(perChannel(a, b)[0], 1);
    }
    const sum = scale_weights.reduce((p, q) => p + q, 0);
    let prod: tf.Tensor = tf.ones([a.shape[0], a.shape[3]]);
    scale_weights.forEach((w, i) => {
      if (i > 0) {
        const p = Math.max(a.shape[1] % 2, a.shape[2] % 2);
        const pad = (t: tf.Tensor4D) => {
          if (!p) return t;
          const top = tf.concat([tf.slice(t, [0, 0, 0, 0], [-1, 1, -1, -1]), t], 1);
          return tf.concat([tf.slice(top, [0, 0, 0, 0], [-1, -1, 1, -1]), top], 2) as tf.Tensor4D;
        };
        a = tf.avgPool(pad(a), 2, 2, 'valid');
        b = tf.avgPool(pad(b), 2, 2, 'valid');
      }
      const [ss, cs] = perChannel(a, b);
      const v = tf.relu(i === scale_weights.length - 1 ? ss : cs);
      prod = tf.mul(prod, tf.pow(v, w / sum));
    });
    return tf.mean(prod, 1);
  });
}
