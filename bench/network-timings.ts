/**
 * Forward and backward times of each feature network at full size (random weights; the dlib net
 * with face-api's real weights), batch 1, for 64×64 and 224×224 inputs, through the losses.
 * Run: `npx tsx bench/network-timings.ts [backend] [name filter]`; the numbers are in
 * docs/weights.md ("Speed").
 */
import * as tf from '@tensorflow/tfjs';
import {
  ArcFaceIRSE,
  CLIPLoss,
  CLIPModel,
  chooseBackend,
  type DecodedTensor,
  FaceIdLoss,
  LIGHTCNN_LAYERS,
  LightCNNFeatureLoss,
  LightCNNFeatures,
  PerceptualLoss,
  type TensorSource,
  VGGFeatures,
  vggLayers,
} from '../src/index.ts';
import { loadFaceApiRecognitionNet } from '../src/node/weights.ts';

/** A TensorSource of deterministic pseudo-random weights with the given shapes. */
function randomSource(shapes: Record<string, number[]>, std = 0.02): TensorSource {
  return {
    source: 'random',
    names: () => Object.keys(shapes),
    has: (n) => n in shapes,
    read: (n): DecodedTensor => {
      const shape = shapes[n];
      const size = shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(size);
      let s = size + n.length;
      const isVar =
        n.endsWith('running_var') ||
        n.endsWith('layer_norm1.weight') ||
        n.endsWith('layer_norm2.weight');
      for (let i = 0; i < size; i++) {
        s = (s * 1103515245 + 12345) & 0x7fffffff;
        values[i] = isVar ? 1 : (s / 0x7fffffff - 0.5) * 2 * std;
      }
      return { dtype: 'float32', shape: shape.slice(), values };
    },
  };
}

function vggShapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  let cin = 3;
  for (const l of vggLayers('vgg19')) {
    if (l.kind !== 'conv') continue;
    shapes[`features.${l.index}.weight`] = [l.channels!, cin, 3, 3];
    shapes[`features.${l.index}.bias`] = [l.channels!];
    cin = l.channels!;
  }
  return shapes;
}

function lightcnnShapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  let cin = 3;
  for (const l of LIGHTCNN_LAYERS) {
    if (l.kind !== 'mfm') continue;
    shapes[`features.${l.index}.filter.weight`] = [2 * l.out!, cin, l.kernel!, l.kernel!];
    shapes[`features.${l.index}.filter.bias`] = [2 * l.out!];
    cin = l.out!;
  }
  return shapes;
}

function irse50Shapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  const bn = (k: string, c: number) => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) shapes[`${k}.${p}`] = [c];
  };
  shapes['input_layer.0.weight'] = [64, 3, 3, 3];
  bn('input_layer.1', 64);
  shapes['input_layer.2.weight'] = [64];
  let k = 0;
  let cin = 64;
  for (const [depth, units] of [
    [64, 3],
    [128, 4],
    [256, 14],
    [512, 3],
  ]) {
    for (let u = 0; u < units; u++, k++) {
      const key = `body.${k}`;
      if (cin !== depth) {
        shapes[`${key}.shortcut_layer.0.weight`] = [depth, cin, 1, 1];
        bn(`${key}.shortcut_layer.1`, depth);
      }
      bn(`${key}.res_layer.0`, cin);
      shapes[`${key}.res_layer.1.weight`] = [depth, cin, 3, 3];
      shapes[`${key}.res_layer.2.weight`] = [depth];
      shapes[`${key}.res_layer.3.weight`] = [depth, depth, 3, 3];
      bn(`${key}.res_layer.4`, depth);
      shapes[`${key}.res_layer.5.fc1.weight`] = [depth / 16, depth, 1, 1];
      shapes[`${key}.res_layer.5.fc2.weight`] = [depth, depth / 16, 1, 1];
      cin = depth;
    }
  }
  bn('output_layer.0', 512);
  shapes['output_layer.3.weight'] = [512, 512 * 49];
  shapes['output_layer.3.bias'] = [512];
  bn('output_layer.4', 512);
  return shapes;
}

function clipShapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  const tower = (prefix: string, width: number, layers: number) => {
    for (let i = 0; i < layers; i++) {
      const p = `${prefix}.encoder.layers.${i}`;
      for (const n of ['layer_norm1', 'layer_norm2']) {
        shapes[`${p}.${n}.weight`] = [width];
        shapes[`${p}.${n}.bias`] = [width];
      }
      for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
        shapes[`${p}.self_attn.${n}.weight`] = [width, width];
        shapes[`${p}.self_attn.${n}.bias`] = [width];
      }
      shapes[`${p}.mlp.fc1.weight`] = [4 * width, width];
      shapes[`${p}.mlp.fc1.bias`] = [4 * width];
      shapes[`${p}.mlp.fc2.weight`] = [width, 4 * width];
      shapes[`${p}.mlp.fc2.bias`] = [width];
    }
  };
  shapes['vision_model.embeddings.class_embedding'] = [768];
  shapes['vision_model.embeddings.patch_embedding.weight'] = [768, 3, 32, 32];
  shapes['vision_model.embeddings.position_embedding.weight'] = [50, 768];
  for (const n of ['pre_layrnorm', 'post_layernorm']) {
    shapes[`vision_model.${n}.weight`] = [768];
    shapes[`vision_model.${n}.bias`] = [768];
  }
  tower('vision_model', 768, 12);
  shapes['visual_projection.weight'] = [512, 768];
  shapes['text_model.embeddings.token_embedding.weight'] = [49408, 512];
  shapes['text_model.embeddings.position_embedding.weight'] = [77, 512];
  tower('text_model', 512, 12);
  shapes['text_model.final_layer_norm.weight'] = [512];
  shapes['text_model.final_layer_norm.bias'] = [512];
  shapes['text_projection.weight'] = [512, 512];
  shapes.logit_scale = [];
  return shapes;
}

/** Median of `runs` timed calls after one warm-up, in ms. */
function time(fn: () => tf.TensorContainer, runs = 3): number {
  tf.dispose(fn());
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = fn();
    for (const t of Array.isArray(out) ? out : [out]) if (t instanceof tf.Tensor) t.dataSync();
    ms.push(performance.now() - t0);
    tf.dispose(out);
  }
  return ms.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

const backend = await chooseBackend(process.argv[2]);
const rows: string[] = [];
const only = process.argv[3];
async function measure(
  name: string,
  loss: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor,
  sizes = [64, 224],
) {
  if (only && !name.includes(only)) return;
  for (const s of sizes) {
    const x = tf.randomUniform([1, s, s, 3], -1, 1, 'float32', 1);
    const y = tf.randomUniform([1, s, s, 3], -1, 1, 'float32', 2);
    const fwd = time(() => loss(x, y));
    const bwd = time(() => tf.grad((t: tf.Tensor) => loss(t, y))(x));
    rows.push(`| ${name} | ${s}×${s} | ${fwd.toFixed(0)} | ${bwd.toFixed(0)} |`);
    console.log(rows[rows.length - 1]);
    tf.dispose([x, y]);
  }
}

const vgg = VGGFeatures.load('vgg19', randomSource(vggShapes()), { upTo: 35 });
const percep = new PerceptualLoss({ layer_weights: { '35': 1 }, style_weight: 0 }, vgg);
await measure("VGG19 to relu5_4 ('35'), PerceptualLoss", (x, y) => percep.forward(x, y)[0]!);
vgg.dispose();

const light = LightCNNFeatures.load(randomSource(lightcnnShapes()));
const lightLoss = new LightCNNFeatureLoss({ pretrained: 'random' }, light);
await measure('LightCNN-9 features, LightCNNFeatureLoss', (x, y) => lightLoss.forward(x, y));
light.dispose();

const dlib = await loadFaceApiRecognitionNet();
const dlibLoss = new FaceIdLoss({}, dlib);
await measure('dlib ResNet (face-api weights; 150×150 inside), FaceIdLoss', (x, y) =>
  dlibLoss.forward(x, y),
);
dlib.dispose();

const arc = ArcFaceIRSE.load(randomSource(irse50Shapes()));
const arcLoss = new FaceIdLoss({ facenet: { type: 'ArcFace', ir_se50_weights: null } }, arc);
await measure('ArcFace IR-SE50 (112×112 inside), FaceIdLoss', (x, y) => arcLoss.forward(x, y));
arc.dispose();

const clip = CLIPModel.load(randomSource(clipShapes()));
const text = tf.tensor2d(
  [[49406, 320, 1125, 539, 320, 2368, 49407, ...new Array(70).fill(0)]],
  [1, 77],
  'int32',
);
for (const s of [64, 224]) {
  const clipLoss = new CLIPLoss({ clip_model: { in_size: s } }, clip);
  await measure(
    'CLIP ViT-B/32 both towers (224×224 inside), CLIPLoss',
    (x) => clipLoss.forward(x, text),
    [s],
  );
}
clip.dispose();

console.log(
  `\nbackend ${backend}, batch 1, median of 3 after a warm-up; forward = loss(x, y), backward = grad w.r.t. x (includes the forward)`,
);
console.log('| network | input | forward ms | backward ms |\n| --- | --- | --- | --- |');
console.log(rows.join('\n'));
