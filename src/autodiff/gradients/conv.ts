import * as tf from '@tensorflow/tfjs';
import { runKernel } from './kernel.ts';

/**
 * The gradient of a filter gradient `dW = Fᵀ(x, dy)`, which TF.js does not have. `Fᵀ` is
 * bilinear, with `⟨ddW, Fᵀ(x, dy)⟩ = ⟨F(x, ddW), dy⟩`, so (as in TF-Python's `nn_grad.py`):
 * `∂x = backpropInput(dy, ddW)`, `∂dy = forward(x, ddW)`. The three kernels share the attributes
 * `shared`; `forwardAttrs` completes the forward kernel's.
 */
function filterGradGradConfig(
  kernelName: string,
  backpropInput: string,
  forward: string,
  shared: readonly string[],
  forwardAttrs: tf.NamedAttrMap,
): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw, [x, dy], attrs) => {
      const common = Object.fromEntries(shared.map((key) => [key, attrs[key]]));
      const filter = ddw as tf.Tensor;
      return {
        x: () => runKernel(backpropInput, { dy, filter }, { ...common, inputShape: x.shape }),
        dy: () => runKernel(forward, { x, filter }, { ...common, ...forwardAttrs }),
      };
    },
  };
}

/**
 * `Conv2DBackpropFilter` (the weight gradient of `conv2d`, and the filter gradient of
 * `conv2dTranspose`): `∂x = conv2dBackpropInput(dy, ddW)`, `∂dy = conv2d(x, ddW)`.
 */
export const conv2DBackpropFilterGradConfig = filterGradGradConfig(
  tf.Conv2DBackpropFilter,
  tf.Conv2DBackpropInput,
  tf.Conv2D,
  ['strides', 'pad', 'dataFormat', 'dimRoundingMode'],
  { dilations: 1 },
);

/**
 * `DepthwiseConv2dNativeBackpropInput` has no gradient in TF.js. It is bilinear in `(dy, W)`:
 * `∂dy = depthwiseConv2d(ddx, W)`, `∂W = depthwiseBackpropFilter(ddx, dy)`.
 */
export const depthwiseBackpropInputGradConfig: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  inputsToSave: ['dy', 'filter'],
  gradFunc: (ddx, [dy, filter], attrs) => {
    const { strides, pad, dilations, dimRoundingMode } =
      attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    const common = { strides, pad, dilations, dimRoundingMode };
    return {
      dy: () =>
        runKernel(
          tf.DepthwiseConv2dNative,
          { x: ddx as tf.Tensor, filter },
          {
            ...common,
            dataFormat: 'NHWC',
          },
        ),
      filter: () =>
        runKernel(
          tf.DepthwiseConv2dNativeBackpropFilter,
          { x: ddx as tf.Tensor, dy },
          {
            ...common,
            filterShape: filter.shape,
          },
        ),
    };
  },
};

/**
 * `DepthwiseConv2dNativeBackpropFilter`: `∂x = depthwiseBackpropInput(dy, ddW)`,
 * `∂dy = depthwiseConv2d(x, ddW)`.
 */
export const depthwiseBackpropFilterGradConfig = filterGradGradConfig(
  tf.DepthwiseConv2dNativeBackpropFilter,
  tf.DepthwiseConv2dNativeBackpropInput,
  tf.DepthwiseConv2dNative,
  ['strides', 'pad', 'dilations', 'dimRoundingMode'],
  { dataFormat: 'NHWC' },
);
