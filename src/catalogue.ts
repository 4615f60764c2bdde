/**
 * The catalogue of built-in losses: every loss class that a loss-family file exports (one with its
 * own `static lossType`) is registered in `LOSSES` under that name, and `LOSSES.build`'s result
 * type for that name is the class's own instance type. Adding a loss to a family file is the
 * whole registration; a new family file is one more line in `FAMILIES`.
 */
import * as clipComps from './components/clip.ts';
import * as discAuxiliary from './components/disc-auxiliary.ts';
import * as faceIdComps from './components/face-id.ts';
import * as genAuxiliary from './components/gen-auxiliary.ts';
import { type LossClass, LossModule } from './core/module.ts';
import { LOSSES } from './core/registry.ts';
import * as advLoss from './losses/adv.ts';
import * as basicsr from './losses/basicsr.ts';
import * as clip from './losses/clip.ts';
import * as composition from './losses/composition.ts';
import * as faceId from './losses/face-id.ts';
import * as focalFrequency from './losses/focal-frequency.ts';
import * as gan from './losses/gan.ts';
import * as gradient from './losses/gradient.ts';
import * as learnedPerceptual from './losses/learned-perceptual.ts';
import * as lightcnn from './losses/lightcnn.ts';
import * as penalties from './losses/penalties.ts';
import * as perceptual from './losses/perceptual.ts';
import * as pixelwise from './losses/pixelwise.ts';
import * as relativistic from './losses/relativistic.ts';
import * as robust from './losses/robust.ts';
import * as ssim from './losses/ssim.ts';
import * as transferal from './losses/transferal.ts';

/**
 * The loss-family modules whose exported loss classes are registered. `losses/path-regularizer.ts`
 * is not one: MMagic registers only the component that wraps it (`GeneratorPathRegularizerComps`).
 */
const FAMILIES = [
  pixelwise,
  robust,
  basicsr,
  ssim,
  focalFrequency,
  composition,
  gradient,
  gan,
  advLoss,
  relativistic,
  penalties,
  perceptual,
  transferal,
  learnedPerceptual,
  lightcnn,
  faceId,
  clip,
  discAuxiliary,
  genAuxiliary,
  faceIdComps,
  clipComps,
] as const;

/** A registrable class: a concrete `LossModule` subclass with a literal `lossType`. */
type LossClassNamed<N extends string> = { readonly lossType: N } & (new (
  // biome-ignore lint/suspicious/noExplicitAny: each class takes its own config type.
  ...args: any[]
) => LossModule);

/** Registry name → instance type, for the loss classes one module exports. */
type LossClassesOf<M> = {
  [K in keyof M as M[K] extends LossClassNamed<infer N>
    ? string extends N
      ? never
      : N
    : never]: M[K] extends new (
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    ...args: any[]
  ) => infer I
    ? I
    : never;
};

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (
  x: infer I,
) => void
  ? I
  : never;

/** Registry name → instance type of every built-in loss. */
export type BuiltinLossTypes = UnionToIntersection<LossClassesOf<(typeof FAMILIES)[number]>>;

function isLossClass(value: unknown): value is LossClass {
  return (
    typeof value === 'function' &&
    Object.hasOwn(value, 'lossType') &&
    value.prototype instanceof LossModule
  );
}

for (const family of FAMILIES) {
  for (const value of Object.values(family)) {
    if (isLossClass(value)) LOSSES.register(value, { builtin: true });
  }
}

declare module './core/registry.ts' {
  interface LossTypeMap extends BuiltinLossTypes {}
}
