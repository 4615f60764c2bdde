import * as tf from '@tensorflow/tfjs';
import { runKernel } from './kernel.ts';

/**
 * `Conv2DBackpropFilter` (the weight gradient of `conv2d`, and the filter gradient of
 * `conv2dTranspose`) has no gradient in TF.js. `dW = Fᵀ(x, dy)` is bilinear, with
 * `⟨ddW, Fᵀ(x, dy)⟩ = ⟨conv2d(x, ddW), dy⟩`, so (as in TF-Python's `nn_grad.py`):
 * `∂x = conv2dBackpropInput(dy, ddW)`, `∂dy = conv2d(x, ddW)`.
 */
export const conv2DBackpropFilterGradConfig: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, [x, dy], attrs) => {
    const { strides, pad, dataFormat, dimRoundingMode } =
      attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const common = { strides, pad, dataFormat, dimRoundingMode };
    return {
      x: () =>
        runKernel(
          tf.Conv2DBackpropInput,
          { dy, filter: ddw as tf.Tensor },
          {
            ...common,
            inputShape: x.shape,
          },
        ),
      dy: () => runKernel(tf.Conv2D, { x, filter: ddw as tf.Tensor }, { ...common, dilations: 1 }),
    };
  },
};

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
 * `DepthwiseConv2dNativeBackpropFilter` has no gradient in TF.js. It is bilinear in `(x, dy)`:
 * `∂x = depthwiseBackpropInput(dy, ddW)`, `∂dy = depthwiseConv2d(x, ddW)`.
 */
export const depthwiseBackpropFilterGradConfig: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, [x, dy], attrs) => {
    const { strides, pad, dilations, dimRoundingMode } =
      attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    const common = { strides, pad, dilations, dimRoundingMode };
    return {
      x: () =>
        runKernel(
          tf.DepthwiseConv2dNativeBackpropInput,
          { dy, filter: ddw as tf.Tensor },
          {
            ...common,
            inputShape: x.shape,
          },
        ),
      dy: () =>
        runKernel(
          tf.DepthwiseConv2dNative,
          { x, filter: ddw as tf.Tensor },
          {
            ...common,
            dataFormat: 'NHWC',
          },
        ),
    };
  },
};
