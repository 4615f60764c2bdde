/**
 * The WebAssembly text of genloss's SIMD loss kernels, generated per loss from one template so the
 * three losses share every loop, the row kernels of the fused Sobel loss, and the element-wise
 * kernels of the fused GAN losses.
 * `npm run build:simd` (scripts/build-simd.ts) compiles it (wabt's `wat2wasm`) into `module.ts`;
 * the text is kept here so that the binaries can be reviewed and rebuilt.
 *
 * The module imports TF.js-wasm's own memory (`env.memory`), so kernels read and write tensors in
 * place. Addresses are byte offsets; counts are elements. For each loss `K` with element-wise
 * `f(d)`, `d = p − t`, and derivative `f'(d)`:
 *
 * - `sum_K(p, t, w, n, eps) → f64`: `Σ f(d)·w` over n elements (`w = 0`: no weight).
 * - `bsum_K(p, t, w, pixels, c, eps) → f64`: the same with one weight per `c` elements.
 * - `grad_K(out, p, t, w, n, scale, eps)`: `out = scale·f'(d)·w` (`w = 0`: no weight).
 * - `bgrad_K(out, p, t, w, pixels, c, scale, eps)`: the same with one weight per `c` elements.
 *
 * Sums run in f32x4 lanes flushed to an f64 total every 64 vectors: memory-bound speed, and an
 * error far below float32's own on a 3-million-element mean.
 */

interface LossText {
  /** Element-wise loss of `$d` (f32x4), with `$e` the splatted eps. */
  vec: string;
  /** Derivative of the loss at `$d` (f32x4). */
  vecGrad: string;
  /** Scalar loss of `$s` (f32), with `$eps`. */
  scalar: string;
  /** Scalar derivative at `$s`. */
  scalarGrad: string;
}

const ZERO = '(v128.const f32x4 0 0 0 0)';
const ONE = '(v128.const f32x4 1 1 1 1)';

/** The losses, by kernel suffix. */
export const SIMD_LOSSES: Record<'l1' | 'mse' | 'charbonnier', LossText> = {
  l1: {
    vec: '(f32x4.abs (local.get $d))',
    // sign(d), 0 at 0 (as TF.js's Abs gradient and PyTorch).
    vecGrad: `(v128.and (f32x4.ne (local.get $d) ${ZERO})
      (v128.or ${ONE} (v128.and (local.get $d) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))`,
    scalar: '(f32.abs (local.get $s))',
    scalarGrad:
      '(select (f32.copysign (f32.const 1) (local.get $s)) (f32.const 0) (f32.ne (local.get $s) (f32.const 0)))',
  },
  mse: {
    vec: '(f32x4.mul (local.get $d) (local.get $d))',
    vecGrad: '(f32x4.add (local.get $d) (local.get $d))',
    scalar: '(f32.mul (local.get $s) (local.get $s))',
    scalarGrad: '(f32.add (local.get $s) (local.get $s))',
  },
  charbonnier: {
    vec: '(f32x4.sqrt (f32x4.add (f32x4.mul (local.get $d) (local.get $d)) (local.get $e)))',
    vecGrad:
      '(f32x4.div (local.get $d) (f32x4.sqrt (f32x4.add (f32x4.mul (local.get $d) (local.get $d)) (local.get $e))))',
    scalar: '(f32.sqrt (f32.add (f32.mul (local.get $s) (local.get $s)) (local.get $eps)))',
    scalarGrad:
      '(f32.div (local.get $s) (f32.sqrt (f32.add (f32.mul (local.get $s) (local.get $s)) (local.get $eps))))',
  },
};

/** `d = p[i] − t[i]` as f32x4 at byte offset `$i`. */
const LOAD_D =
  '(local.set $d (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $i))) (v128.load (i32.add (local.get $t) (local.get $i)))))';
const LOAD_S =
  '(local.set $s (f32.sub (f32.load (i32.add (local.get $p) (local.get $i))) (f32.load (i32.add (local.get $t) (local.get $i)))))';
const FLUSH = `(local.set $total (f64.add (local.get $total) (f64.add
        (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $acc))))
        (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $acc)))))))
      (local.set $acc ${ZERO})`;

/** The scalar tail: `scalar` at byte offset `$i`, 4 bytes at a time, up to element `$n`. */
function tailLoop(scalar: string): string {
  return `
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        ${scalar}
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))`;
}

/** `vec` at byte offset `$i`, 16 bytes at a time, over the whole f32x4 vectors; then `tailLoop`. */
function vectorLoop(vec: string, scalar: string): string {
  return `
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $body
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        ${vec}
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $body)))${tailLoop(scalar)}`;
}

function sumFunc(name: string, k: LossText, weighted: boolean): string {
  const term = weighted
    ? `(f32x4.mul ${k.vec} (v128.load (i32.add (local.get $w) (local.get $i))))`
    : k.vec;
  const scalarTerm = weighted
    ? `(f32.mul ${k.scalar} (f32.load (i32.add (local.get $w) (local.get $i))))`
    : k.scalar;
  return `
  (func $${name} (param $p i32) (param $t i32) (param $w i32) (param $n i32) (param $eps f32) (result f64)
    (local $i i32) (local $end i32) (local $block i32) (local $d v128) (local $e v128) (local $acc v128)
    (local $s f32) (local $total f64)
    (local.set $e (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $block (i32.add (local.get $i) (i32.const 1024)))
        (if (i32.gt_u (local.get $block) (local.get $end)) (then (local.set $block (local.get $end))))
        (loop $inner
          ${LOAD_D}
          (local.set $acc (f32x4.add (local.get $acc) ${term}))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br_if $inner (i32.lt_u (local.get $i) (local.get $block))))
        ${FLUSH}
        (br $outer)))${tailLoop(`${LOAD_S}
        (local.set $total (f64.add (local.get $total) (f64.promote_f32 ${scalarTerm})))`)}
    (local.get $total))`;
}

function gradFunc(name: string, k: LossText, weighted: boolean): string {
  const term = weighted
    ? `(f32x4.mul (f32x4.mul ${k.vecGrad} (local.get $sc)) (v128.load (i32.add (local.get $w) (local.get $i))))`
    : `(f32x4.mul ${k.vecGrad} (local.get $sc))`;
  const scalarTerm = weighted
    ? `(f32.mul (f32.mul ${k.scalarGrad} (local.get $scale)) (f32.load (i32.add (local.get $w) (local.get $i))))`
    : `(f32.mul ${k.scalarGrad} (local.get $scale))`;
  return `
  (func $${name} (param $out i32) (param $p i32) (param $t i32) (param $w i32) (param $n i32) (param $scale f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $d v128) (local $e v128) (local $sc v128) (local $s f32)
    (local.set $e (f32x4.splat (local.get $eps)))
    (local.set $sc (f32x4.splat (local.get $scale)))${vectorLoop(
      `${LOAD_D}
        (v128.store (i32.add (local.get $out) (local.get $i)) ${term})`,
      `${LOAD_S}
        (f32.store (i32.add (local.get $out) (local.get $i)) ${scalarTerm})`,
    )})`;
}

/** Broadcast weight: pixel `j` has weight `w[j]` for its `c` elements. Scalar loops. */
function bsumFunc(name: string, k: LossText): string {
  return `
  (func $${name} (param $p i32) (param $t i32) (param $w i32) (param $pixels i32) (param $c i32) (param $eps f32) (result f64)
    (local $i i32) (local $j i32) (local $k i32) (local $s f32) (local $pixel f32) (local $total f64)
    (block $done
      (loop $pix
        (br_if $done (i32.ge_u (local.get $j) (local.get $pixels)))
        (local.set $pixel (f32.const 0))
        (local.set $k (i32.const 0))
        (loop $chan
          ${LOAD_S}
          (local.set $pixel (f32.add (local.get $pixel) ${k.scalar}))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $chan (i32.lt_u (local.get $k) (local.get $c))))
        (local.set $total (f64.add (local.get $total) (f64.promote_f32
          (f32.mul (local.get $pixel) (f32.load (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $pix)))
    (local.get $total))`;
}

function bgradFunc(name: string, k: LossText): string {
  return `
  (func $${name} (param $out i32) (param $p i32) (param $t i32) (param $w i32) (param $pixels i32) (param $c i32) (param $scale f32) (param $eps f32)
    (local $i i32) (local $j i32) (local $k i32) (local $s f32) (local $pw f32)
    (block $done
      (loop $pix
        (br_if $done (i32.ge_u (local.get $j) (local.get $pixels)))
        (local.set $pw (f32.mul (local.get $scale) (f32.load (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $k (i32.const 0))
        (loop $chan
          ${LOAD_S}
          (f32.store (i32.add (local.get $out) (local.get $i)) (f32.mul ${k.scalarGrad} (local.get $pw)))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $chan (i32.lt_u (local.get $k) (local.get $c))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $pix))))`;
}

// ── Sobel stencil kernels ─────────────────────────────────────────────────────────────────────
// Rows are W·C floats; `s` and `e` rows carry C zero floats of guard before and after, so the
// left/right neighbours (±C floats) never need a bounds check.
// src/backends/fused/sobel-loss-simd.ts drives them row by row.

/** A loop over n elements: f32x4 body at byte offset $i, then a scalar tail. */
function rowLoop(vec: string, scalar: string): string {
  return `
    (local.set $i (i32.const 0))${vectorLoop(vec, scalar)}`;
}

const at = (ptr: string) => `(i32.add (local.get $${ptr}) (local.get $i))`;
const left = (ptr: string) => `(i32.sub ${at(ptr)} (local.get $cb))`;
const right = (ptr: string) => `(i32.add ${at(ptr)} (local.get $cb))`;
const V = (addr: string) => `(v128.load ${addr})`;
const F = (addr: string) => `(f32.load ${addr})`;
const SIGN_MASK = '(v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)';

/** gx and gy at $i from padded rows s and e, into locals $gx, $gy (vector) or $x, $y (scalar). */
const GXY_V = `(local.set $gx (f32x4.sub ${V(left('s'))} ${V(right('s'))}))
        (local.set $gy (f32x4.add (f32x4.add ${V(left('e'))} ${V(right('e'))}) (f32x4.add ${V(at('e'))} ${V(at('e'))})))`;
const GXY_S = `(local.set $x (f32.sub ${F(left('s'))} ${F(right('s'))}))
        (local.set $y (f32.add (f32.add ${F(left('e'))} ${F(right('e'))}) (f32.add ${F(at('e'))} ${F(at('e'))})))`;
const LOCALS =
  '(local $i i32) (local $end i32) (local $cb i32) (local $gx v128) (local $gy v128) (local $x f32) (local $y f32)';
const SET_CB = '(local.set $cb (i32.shl (local.get $c) (i32.const 2)))';

function sobelFuncs(): [string, string][] {
  return [
    [
      'sub_rows',
      `(func $sub_rows (param $out i32) (param $p i32) (param $t i32) (param $n i32)
    (local $i i32) (local $end i32)
    ${rowLoop(
      `(v128.store ${at('out')} (f32x4.sub ${V(at('p'))} ${V(at('t'))}))`,
      `(f32.store ${at('out')} (f32.sub ${F(at('p'))} ${F(at('t'))}))`,
    )})`,
    ],
    [
      'vert',
      `(func $vert (param $s i32) (param $e i32) (param $a i32) (param $h i32) (param $b i32) (param $ea i32) (param $eb i32) (param $n i32)
    (local $i i32) (local $end i32)
    ${rowLoop(
      `(v128.store ${at('s')} (f32x4.add (f32x4.add ${V(at('a'))} ${V(at('b'))}) (f32x4.add ${V(at('h'))} ${V(at('h'))})))
        (v128.store ${at('e')} (f32x4.sub ${V(at('ea'))} ${V(at('eb'))}))`,
      `(f32.store ${at('s')} (f32.add (f32.add ${F(at('a'))} ${F(at('b'))}) (f32.add ${F(at('h'))} ${F(at('h'))})))
        (f32.store ${at('e')} (f32.sub ${F(at('ea'))} ${F(at('eb'))}))`,
    )})`,
    ],
    [
      'hsum',
      `(func $hsum (param $s i32) (param $e i32) (param $w i32) (param $n i32) (param $c i32) (result f64)
    ${LOCALS} (local $acc v128) (local $total f64)
    ${SET_CB}
    ${rowLoop(
      `${GXY_V}
        (local.set $gx (f32x4.add (f32x4.abs (local.get $gx)) (f32x4.abs (local.get $gy))))
        (if (local.get $w) (then (local.set $gx (f32x4.mul (local.get $gx) ${V(at('w'))}))))
        (local.set $acc (f32x4.add (local.get $acc) (local.get $gx)))`,
      `${GXY_S}
        (local.set $x (f32.add (f32.abs (local.get $x)) (f32.abs (local.get $y))))
        (if (local.get $w) (then (local.set $x (f32.mul (local.get $x) ${F(at('w'))}))))
        (local.set $total (f64.add (local.get $total) (f64.promote_f32 (local.get $x))))`,
    )}
    (f64.add (local.get $total) (f64.add
      (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $acc))))
      (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 3 (local.get $acc)))))))`,
    ],
    [
      'hsign',
      `(func $hsign (param $s i32) (param $e i32) (param $w i32) (param $ax i32) (param $ay i32) (param $n i32) (param $c i32) (param $scale f32)
    ${LOCALS} (local $v v128) (local $sc v128) (local $u f32)
    ${SET_CB}
    (local.set $sc (f32x4.splat (local.get $scale)))
    ${rowLoop(
      `${GXY_V}
        (local.set $v (local.get $sc))
        (if (local.get $w) (then (local.set $v (f32x4.mul (local.get $v) ${V(at('w'))}))))
        (v128.store ${at('ax')} (v128.and (f32x4.ne (local.get $gx) (v128.const f32x4 0 0 0 0))
          (v128.xor (local.get $v) (v128.and (local.get $gx) ${SIGN_MASK}))))
        (v128.store ${at('ay')} (v128.and (f32x4.ne (local.get $gy) (v128.const f32x4 0 0 0 0))
          (v128.xor (local.get $v) (v128.and (local.get $gy) ${SIGN_MASK}))))`,
      `${GXY_S}
        (local.set $u (local.get $scale))
        (if (local.get $w) (then (local.set $u (f32.mul (local.get $u) ${F(at('w'))}))))
        (f32.store ${at('ax')} (select (f32.copysign (local.get $u) (f32.mul (local.get $x) (f32.copysign (f32.const 1) (local.get $u)))) (f32.const 0) (f32.ne (local.get $x) (f32.const 0))))
        (f32.store ${at('ay')} (select (f32.copysign (local.get $u) (f32.mul (local.get $y) (f32.copysign (f32.const 1) (local.get $u)))) (f32.const 0) (f32.ne (local.get $y) (f32.const 0))))`,
    )})`,
    ],
    [
      'hout',
      `(func $hout (param $s i32) (param $e i32) (param $out i32) (param $n i32) (param $c i32)
    ${LOCALS}
    ${SET_CB}
    ${rowLoop(
      `${GXY_V}
        (v128.store ${at('out')} (f32x4.neg (f32x4.add (local.get $gx) (local.get $gy))))`,
      `${GXY_S}
        (f32.store ${at('out')} (f32.neg (f32.add (local.get $x) (local.get $y))))`,
    )})`,
    ],
    [
      'expand',
      `(func $expand (param $out i32) (param $w i32) (param $pixels i32) (param $c i32)
    (local $j i32) (local $k i32) (local $v f32)
    (block $done
      (loop $pix
        (br_if $done (i32.ge_u (local.get $j) (local.get $pixels)))
        (local.set $v (f32.load (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $k (i32.const 0))
        (loop $chan
          (f32.store (local.get $out) (local.get $v))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $chan (i32.lt_u (local.get $k) (local.get $c))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $pix))))`,
    ],
  ];
}

// ── GAN-loss kernels ──────────────────────────────────────────────────────────────────────────
// The element functions of src/backends/fused/gan-loss-loops.ts over a patch map of logits `x`,
// f32x4 at a time: `n` is a multiple of 4 (the caller runs the last 0–3 elements in its JS loop).
// Sums accumulate in two f64x2 lanes pairs, as the JS loops' double total.
//
// - `sum_bce(x, n, c) → f64`: Σ softplus(x) − c·x, as `(x ≥ 0 ? (1 − c)·x : −c·x) + log1p(e)`
//   with e = exp(−|x|) (no cancellation for the labels 0 and 1);
// - `grad_bce(out, x, n, c, scale)`: scale·(σ(x) − c) = scale·((1 − c)·σ(x) − c·σ(−x)), each σ
//   as `p / (1 + e)` with p = 1 or e by the sign of x (so σ(x) − 1 = −σ(−x) keeps its digits);
// - `sum_square(x, n, c)`: Σ (x − c)² in double; `grad_square(out, x, n, c, scale)`: 2·scale·(x − c);
// - `sum_hinge(x, n, c)`: Σ relu(1 + c·x) (1 + c·x in float32, as the op chain);
//   `grad_hinge(out, x, n, c, sc)`: sc (= scale·c) where 1 + c·x > 0, else 0;
// - `sum_linear(x, n) → f64`: Σ x in double.
//
// exp is Cephes' expf (range reduction by ln 2 in two parts, degree-5 polynomial, 2ᵏ built in
// the exponent bits; arguments below −87 clamped there, where e < 2⁻¹²⁵ no longer shows in
// 1 + e); log1p(e), e ∈ [0, 1], is 2·atanh(s) with s = e / (2 + e) ≤ 1/3, a polynomial in s².
// Both are within 2 float32 ulps; NaN stays NaN.

const splat = (v: number) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;
const f4 = (op: string, ...args: string[]) => `(f32x4.${op} ${args.join(' ')})`;
const get = (name: string) => `(local.get $${name})`;
const set = (name: string, value: string) => `(local.set $${name} ${value})`;
/** Horner's scheme in $v: Σ coefs[i]·v^(n−i), coefs from the highest power. */
const horner = (v: string, coefs: number[]) =>
  coefs.slice(1).reduce((acc, c) => f4('add', f4('mul', acc, v), splat(c)), splat(coefs[0]));

/** 1.5·2²³: x + ROUND − ROUND rounds x (|x| < 2²²) to the nearest integer, in float32. */
const ROUND = 12582912;

/**
 * $e = exp(−|$x|) ($k, $q, $r: scratch). y = max(−|x|, −87) = k·ln 2 + r with k = round(y/ln 2)
 * (by ROUND, whose sum's low mantissa bits are k: 2ᵏ is that sum's bits + 127, shifted into the
 * exponent), then e = 2ᵏ·(1 + r + r²·p(r)). `pmax` keeps a NaN (its first operand).
 */
const EXP_NEG_ABS = `${set('r', f4('pmax', f4('neg', f4('abs', get('x'))), splat(-87)))}
        ${set('k', f4('add', f4('mul', get('r'), splat(Math.LOG2E)), splat(ROUND)))}
        ${set('q', f4('sub', get('k'), splat(ROUND)))}
        ${set('r', f4('sub', f4('sub', get('r'), f4('mul', get('q'), splat(0.693359375))), f4('mul', get('q'), splat(-2.1219444e-4))))}
        ${set(
          'e',
          f4(
            'mul',
            f4(
              'add',
              f4(
                'add',
                f4(
                  'mul',
                  f4('mul', get('r'), get('r')),
                  horner(
                    get('r'),
                    [
                      1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                      1.6666665459e-1, 5.0000001201e-1,
                    ],
                  ),
                ),
                get('r'),
              ),
              splat(1),
            ),
            `(i32x4.shl (i32x4.add ${get('k')} (v128.const i32x4 127 127 127 127)) (i32.const 23))`,
          ),
        )}`;

/**
 * $r = log1p($e) for $e ∈ [0, 1] ($k: s = e / (2 + e) ≤ 1/3; $r: s² first): 2s·g(s²) with g a
 * degree-4 fit of atanh(√z)/√z on [0, 1/9] (relative error 5·10⁻⁹ in float32 coefficients).
 */
const LOG1P_E = `${set('k', f4('div', get('e'), f4('add', get('e'), splat(2))))}
        ${set('r', f4('mul', get('k'), get('k')))}
        ${set(
          'r',
          f4(
            'mul',
            f4('add', get('k'), get('k')),
            horner(
              get('r'),
              [0.14007647335529327, 0.14000408351421356, 0.2001080960035324, 0.3333320617675781, 1],
            ),
          ),
        )}`;

/** A loop over the n (a multiple of 4) floats at $x, 16 bytes at a time ($i: the byte offset). */
function ganLoop(body: string): string {
  return `
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $body
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $x (v128.load (i32.add (local.get $xp) (local.get $i))))
        ${body}
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $body)))`;
}

/** $lo += lanes 0, 1 and $hi += lanes 2, 3 of the f32x4 `v`, in double. */
const ACC_F32 = (v: string) => `${set('t', v)}
        ${set('lo', `(f64x2.add ${get('lo')} (f64x2.promote_low_f32x4 ${get('t')}))`)}
        ${set('hi', `(f64x2.add ${get('hi')} (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${get('t')} ${get('t')})))`)}`;
const TOTAL = `(f64.add
      (f64.add (f64x2.extract_lane 0 ${get('lo')}) (f64x2.extract_lane 1 ${get('lo')}))
      (f64.add (f64x2.extract_lane 0 ${get('hi')}) (f64x2.extract_lane 1 ${get('hi')})))`;
const GAN_LOCALS =
  '(local $i i32) (local $end i32) (local $x v128) (local $e v128) (local $k v128) (local $r v128) (local $q v128) (local $t v128) (local $lo v128) (local $hi v128) (local $cv v128)';
const STORE = (v: string) => `(v128.store (i32.add (local.get $out) (local.get $i)) ${v})`;
const GE0 = f4('ge', get('x'), splat(0));

function ganFuncs(): [string, string][] {
  const sum = (name: string, setup: string, body: string) => [
    name,
    `(func $${name} (param $xp i32) (param $n i32) (param $c f32) (result f64)
    ${GAN_LOCALS}
    ${setup}${ganLoop(body)}
    ${TOTAL})`,
  ];
  const grad = (name: string, setup: string, body: string) => [
    name,
    `(func $${name} (param $out i32) (param $xp i32) (param $n i32) (param $c f32) (param $scale f32)
    ${GAN_LOCALS}
    ${setup}${ganLoop(body)})`,
  ];
  const cv = set('cv', '(f32x4.splat (local.get $c))');
  return [
    sum(
      'sum_bce',
      cv,
      `${EXP_NEG_ABS}
        ${LOG1P_E}
        ${ACC_F32(
          f4(
            'add',
            `(v128.bitselect ${f4('sub', get('x'), f4('mul', get('cv'), get('x')))} ${f4('neg', f4('mul', get('cv'), get('x')))} ${GE0})`,
            get('r'),
          ),
        )}`,
    ),
    grad(
      'grad_bce',
      `${cv}
    (local.set $t (f32x4.splat (f32.mul (local.get $scale) (f32.sub (f32.const 1) (local.get $c)))))
    (local.set $lo (f32x4.splat (f32.mul (local.get $scale) (local.get $c))))`,
      `${EXP_NEG_ABS}
        ${set('k', GE0)}
        ${STORE(
          f4(
            'div',
            f4(
              'sub',
              f4('mul', get('t'), `(v128.bitselect ${splat(1)} ${get('e')} ${get('k')})`),
              f4('mul', get('lo'), `(v128.bitselect ${get('e')} ${splat(1)} ${get('k')})`),
            ),
            f4('add', get('e'), splat(1)),
          ),
        )}`,
    ),
    sum(
      'sum_square',
      `(local.set $cv (f64x2.splat (f64.promote_f32 (local.get $c))))`,
      `${set('t', `(f64x2.sub (f64x2.promote_low_f32x4 ${get('x')}) ${get('cv')})`)}
        ${set('lo', `(f64x2.add ${get('lo')} (f64x2.mul ${get('t')} ${get('t')}))`)}
        ${set('t', `(f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${get('x')} ${get('x')})) ${get('cv')})`)}
        ${set('hi', `(f64x2.add ${get('hi')} (f64x2.mul ${get('t')} ${get('t')}))`)}`,
    ),
    grad(
      'grad_square',
      `${cv}
    (local.set $t (f32x4.splat (f32.mul (local.get $scale) (f32.const 2))))`,
      STORE(f4('mul', get('t'), f4('sub', get('x'), get('cv')))),
    ),
    sum(
      'sum_hinge',
      cv,
      ACC_F32(f4('max', f4('add', f4('mul', get('cv'), get('x')), splat(1)), splat(0))),
    ),
    grad(
      'grad_hinge',
      `${cv}
    (local.set $t (f32x4.splat (local.get $scale)))`,
      STORE(
        `(v128.and ${get('t')} ${f4('gt', f4('add', f4('mul', get('cv'), get('x')), splat(1)), splat(0))})`,
      ),
    ),
    sum('sum_linear', '', ACC_F32(get('x'))),
  ] as [string, string][];
}

/** The three modules, in the order module.ts is built from them. */
export const SIMD_PARTS = ['loss', 'sobel', 'gan'] as const;

/**
 * The text of one of the three modules: `'loss'` exports `sum_K`, `wsum_K`, `bsum_K`, `grad_K`,
 * `wgrad_K`, `bgrad_K` per loss; `'sobel'` the row kernels `sub_rows`, `vert`, `hsum`, `hsign`,
 * `hout`, `expand`; `'gan'` the GAN-loss kernels `sum_bce`, `grad_bce`, `sum_square`,
 * `grad_square`, `sum_hinge`, `grad_hinge`, `sum_linear`. Three modules, because browsers compile
 * a module synchronously (as the kernels need) only below 4 KB.
 */
export function simdModuleText(part: (typeof SIMD_PARTS)[number]): string {
  const funcs: [string, string][] = [];
  if (part === 'loss') {
    for (const [suffix, k] of Object.entries(SIMD_LOSSES)) {
      funcs.push(
        [`sum_${suffix}`, sumFunc(`sum_${suffix}`, k, false)],
        [`wsum_${suffix}`, sumFunc(`wsum_${suffix}`, k, true)],
        [`bsum_${suffix}`, bsumFunc(`bsum_${suffix}`, k)],
        [`grad_${suffix}`, gradFunc(`grad_${suffix}`, k, false)],
        [`wgrad_${suffix}`, gradFunc(`wgrad_${suffix}`, k, true)],
        [`bgrad_${suffix}`, bgradFunc(`bgrad_${suffix}`, k)],
      );
    }
  } else {
    const parts = part === 'sobel' ? sobelFuncs() : ganFuncs();
    for (const [name, text] of parts) funcs.push([name, `\n  ${text}`]);
  }
  return `;; Generated by src/backends/simd/source.ts — do not edit.
(module
  (import "env" "memory" (memory 0))
${funcs.map(([, text]) => text).join('\n')}
${funcs.map(([name]) => `  (export "${name}" (func $${name}))`).join('\n')})
`;
}
