/**
 * The WebAssembly text of genloss's SIMD loss kernels, generated per loss from one template so the
 * three losses share every loop. `npx tsx bench/build-simd.ts` compiles it (wabt's `wat2wasm`)
 * into `module.ts`; the text is kept here so that the binary can be reviewed and rebuilt.
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
        (br $outer)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        ${LOAD_S}
        (local.set $total (f64.add (local.get $total) (f64.promote_f32 ${scalarTerm})))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))
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
    (local.set $sc (f32x4.splat (local.get $scale)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $body
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        ${LOAD_D}
        (v128.store (i32.add (local.get $out) (local.get $i)) ${term})
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $body)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        ${LOAD_S}
        (f32.store (i32.add (local.get $out) (local.get $i)) ${scalarTerm})
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail))))`;
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

/** The whole module's text. Exports `sum_K`, `wsum_K`, `bsum_K`, `grad_K`, `wgrad_K`, `bgrad_K`. */
export function simdModuleText(): string {
  const parts: string[] = [];
  const exports: string[] = [];
  for (const [suffix, k] of Object.entries(SIMD_LOSSES)) {
    const funcs: [string, string][] = [
      [`sum_${suffix}`, sumFunc(`sum_${suffix}`, k, false)],
      [`wsum_${suffix}`, sumFunc(`wsum_${suffix}`, k, true)],
      [`bsum_${suffix}`, bsumFunc(`bsum_${suffix}`, k)],
      [`grad_${suffix}`, gradFunc(`grad_${suffix}`, k, false)],
      [`wgrad_${suffix}`, gradFunc(`wgrad_${suffix}`, k, true)],
      [`bgrad_${suffix}`, bgradFunc(`bgrad_${suffix}`, k)],
    ];
    for (const [name, text] of funcs) {
      parts.push(text);
      exports.push(`  (export "${name}" (func $${name}))`);
    }
  }
  return `;; Generated by src/backends/simd/source.ts — do not edit.
(module
  (import "env" "memory" (memory 0))
${parts.join('\n')}
${exports.join('\n')})
`;
}
