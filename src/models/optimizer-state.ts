import * as tf from '@tensorflow/tfjs';

/**
 * An optimizer's whole state, as copies: its iteration count, its accumulators (`getWeights()`
 * order: Adam m₀…mₙ₋₁ v₀…vₙ₋₁, RMSprop mean squares then moments, momentum accumulations), and
 * for Adam the running powers β₁ᵗ, β₂ᵗ of its bias correction.
 */
export interface OptimizerState {
  iterations: number;
  accumulators: tf.Tensor[];
  /** Adam's β₁ᵗ and β₂ᵗ as it holds them (float32 scalars), or null for other optimizers. */
  betaPowers: [tf.Scalar, tf.Scalar] | null;
}

/** Adam's running β powers: float32 scalar variables TF.js keeps private. */
interface AdamBetaPowers {
  accBeta1: tf.Variable<tf.Rank.R0>;
  accBeta2: tf.Variable<tf.Rank.R0>;
}

/**
 * Whether an optimizer is TF.js's Adam. By class name: TF.js's optimizers answer `instanceof` by
 * duck typing (any optimizer is `instanceof tf.AdamOptimizer`).
 */
export const isAdam = (opt: tf.Optimizer): boolean => opt.getClassName() === 'Adam';

const betaPowersOf = (opt: tf.Optimizer): AdamBetaPowers | null =>
  isAdam(opt) ? (opt as unknown as AdamBetaPowers) : null;

/** Copies an optimizer's state; the caller owns the tensors (see {@link disposeOptimizerState}). */
export async function readOptimizerState(opt: tf.Optimizer): Promise<OptimizerState> {
  // getWeights() hands back a fresh iteration-count tensor first; the count is `iterations`.
  const [count, ...accumulators] = await opt.getWeights();
  count.tensor.dispose();
  const { iterations } = opt;
  const powers = betaPowersOf(opt);
  return {
    iterations,
    accumulators: accumulators.map((w) => tf.clone(w.tensor)),
    betaPowers: powers ? [tf.clone(powers.accBeta1), tf.clone(powers.accBeta2)] : null,
  };
}

/**
 * Puts a state from {@link readOptimizerState} back, bit for bit. TF.js's `Adam.setWeights`
 * recomputes β₁ᵗ, β₂ᵗ as `pow(β, t + 1)`, which differs in the last bits from the product TF.js
 * accumulates step by step; the saved powers are assigned after it, so that training goes on
 * exactly as if never stopped. The given tensors stay the caller's.
 */
export async function writeOptimizerState(opt: tf.Optimizer, state: OptimizerState): Promise<void> {
  const replaced = await opt.getWeights();
  const given = [
    { name: 'iter', tensor: tf.scalar(state.iterations, 'int32') },
    ...state.accumulators.map((t, i) => ({ name: `accumulator_${i}`, tensor: tf.clone(t) })),
  ];
  await opt.setWeights(given);
  // setWeights wraps each accumulator in a new variable sharing its data; the copies handed over
  // are freed, the variables keep the data.
  tf.dispose(given.map((g) => g.tensor));
  tf.dispose(replaced.map((w) => w.tensor));
  const powers = betaPowersOf(opt);
  if (powers && state.betaPowers) {
    powers.accBeta1.assign(state.betaPowers[0]);
    powers.accBeta2.assign(state.betaPowers[1]);
  }
}

/** Frees the tensors of a state from {@link readOptimizerState}. */
export function disposeOptimizerState(state: OptimizerState): void {
  tf.dispose([...state.accumulators, ...(state.betaPowers ?? [])]);
}
