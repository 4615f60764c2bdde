/**
 * FaceIdLoss: ArcFace IR-SE (a small IR-SE-shaped network, F16 safetensors) against PyTorch, and
 * the dlib face-recognition ResNet with the real weights that @vladmandic/face-api ships.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import {
  ArcFaceIRSE,
  ConfigError,
  chooseBackend,
  type DlibFaceRecognitionNet,
  dlibInput,
  FaceIdLoss,
  LOSSES,
  parseSafetensors,
  tensorMapSource,
  WeightsError,
} from '../../src/index.ts';
import {
  faceApiModelDir,
  loadFaceApiRecognitionNet,
  loadFaceIdWeights,
} from '../../src/node/weights.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { loadCases, type NetworkCase, toTensor, weightsFixture } from '../helpers/reference.ts';
import { assertClose, assertNoLeak, uniform } from '../helpers/tensors.ts';

const cases = loadCases<NetworkCase>('perceptual/features.json', 'FaceIdLoss');

/**
 * 150×150 RGB chips (values 0–255, rounded as uint8) of the three people in face-api's own
 * demo/sample1.jpg (MIT, installed with the package), cut at boxes found by eye on an 800-px-wide
 * copy: centre x, centre y, half size. Nothing of the photo is stored in this repository.
 */
function faceChips(): Record<string, tf.Tensor3D> {
  const path = createRequire(import.meta.url).resolve('@vladmandic/face-api/demo/sample1.jpg');
  const { width, height, data } = jpeg.decode(readFileSync(path), { useTArray: true });
  const scale = width / 800;
  const boxes = { face_a: [215, 195, 58], face_b: [395, 228, 58], face_c: [648, 140, 58] };
  return tf.tidy(() => {
    const rgba = tf.tensor3d(data, [height, width, 4], 'int32');
    const image = tf.cast(tf.slice(rgba, [0, 0, 0], [height, width, 3]), 'float32');
    return Object.fromEntries(
      Object.entries(boxes).map(([name, [cx, cy, r]]) => {
        const [x0, y0, x1, y1] = [cx - r, cy - r, cx + r, cy + r].map((v) => Math.floor(v * scale));
        const crop = tf.slice(image, [y0, x0, 0], [y1 - y0, x1 - x0, 3]);
        const chip = tf.round(
          tf.image.resizeBilinear(crop as tf.Tensor3D, [150, 150], false, true),
        );
        return [name, tf.keep(chip as tf.Tensor3D)];
      }),
    );
  });
}

/** The face chips as 1×150×150×3 in [−1, 1]. */
function faces(): Record<string, tf.Tensor4D> {
  const chips = faceChips();
  const out = Object.fromEntries(
    Object.entries(chips).map(([n, c]) => [
      n,
      tf.tidy(() => tf.sub(tf.div(c, 127.5), 1).expandDims(0) as tf.Tensor4D),
    ]),
  );
  tf.dispose(Object.values(chips));
  return out;
}

describe('FaceIdLoss with ArcFace IR-SE', () => {
  // Every input is resized to 112×112: on the pure-JS cpu backend this suite takes ~40 s, on wasm
  // a few seconds (GENLOSS_BACKEND=cpu runs it on cpu).
  before(async () => {
    await chooseBackend(process.env.GENLOSS_BACKEND ?? 'wasm');
  });
  after(async () => {
    await useTestBackend();
  });

  test(`${cases.length} PyTorch cases: MMagic's crop, embeddings, loss and gradient`, () => {
    for (const c of cases) {
      tf.tidy(() => {
        const loss = LOSSES.build({ type: c.type, ...c.config }) as FaceIdLoss;
        loss.loadWeights(weightsFixture(c.weights));
        const [pred, gt] = c.args.map((a) => toTensor(a.tensor));
        assertClose(loss.forward(pred, gt), toTensor(c.output), { what: `${c.id}: output` });
        const g = tf.grad((t: tf.Tensor) => loss.forward(t, gt))(pred);
        assertClose(g, toTensor(c.grads.pred), { what: `${c.id}: gradient`, atol: 1e-6 });
        loss.dispose();
      });
    }
  });

  test('wrong shapes and structures are WeightsErrors', () => {
    const st = parseSafetensors(
      weightsFixture('arcface_small.safetensors'),
      'arcface_small.safetensors',
    );
    const map: Record<string, tf.Tensor> = {};
    for (const n of st.names()) map[n] = st.tensor(n);
    const net = ArcFaceIRSE.load(tensorMapSource(map));
    assert.equal(net.embeddingSize, 16);
    net.dispose();
    const edit = (name: string, t: tf.Tensor) => tensorMapSource({ ...map, [name]: t }, 'edited');
    assert.throws(
      () => ArcFaceIRSE.load(edit('output_layer.3.weight', tf.zeros([16, 48 * 36]))),
      (e: Error) =>
        e instanceof WeightsError &&
        /'output_layer.3.weight' in edited must have shape \[\?, 2352\], got \[16, 1728\]/.test(
          e.message,
        ),
    );
    assert.throws(
      () => ArcFaceIRSE.load(edit('body.1.res_layer.1.weight', tf.zeros([24, 8, 3, 3]))),
      /must have shape \[\?, 16, 3, 3\], got \[24, 8, 3, 3\]/,
    );
    const { 'body.0.res_layer.2.weight': _, ...missing } = map;
    assert.throws(
      () => ArcFaceIRSE.load(tensorMapSource(missing, 'cut')),
      /cut has no weight 'body.0.res_layer.2.weight'/,
    );
    assert.throws(
      () =>
        ArcFaceIRSE.load(
          parseSafetensors(weightsFixture('vgg19_small.safetensors'), 'vgg19_small'),
        ),
      /vgg19_small has no weight 'input_layer.0.weight'/,
    );
    tf.dispose(Object.values(map));
  });

  test('config and call errors', () => {
    assert.throws(() => new FaceIdLoss({ facenet: { type: 'Arcface' } as never }), ConfigError);
    const loss = new FaceIdLoss({
      facenet: { type: 'ArcFace', ir_se50_weights: null },
      input_range: [-1, 1],
    });
    const x = uniform([1, 16, 16, 3], 1, -1, 1);
    assert.throws(() => loss.forward(x, x), /no ArcFace weights loaded \(ir_se50_weights: null\)/);
    loss.loadWeights(weightsFixture('arcface_small.safetensors'));
    const img = tf.mul(tf.add(x, 1), 127.5);
    assert.throws(
      () => loss.forward(img, img),
      /'pred' must be an image in \[-1, 1\], got values in \[/,
    );
    assert.throws(
      () => loss.forward(x, tf.zeros([1, 16, 8, 3])),
      /'gt' must have the shape of 'pred'/,
    );
    assertNoLeak(() => loss.forward(x, x), 2);
    loss.dispose();
    tf.dispose([x, img]);
  });
});

describe('FaceIdLoss with the dlib ResNet of @vladmandic/face-api (real weights)', () => {
  let net: DlibFaceRecognitionNet;
  before(async () => {
    // The 150×150 ResNet is ~10× faster on wasm than on the pure-JS cpu backend.
    await chooseBackend(process.env.GENLOSS_BACKEND ?? 'wasm');
    net = await loadFaceApiRecognitionNet();
  });
  after(async () => {
    net.dispose();
    await useTestBackend();
  });

  test('a face and its mirror image are closer than two different faces', () => {
    const f = faces();
    const names = Object.keys(f).sort();
    const batch = tf.concat([...names.map((n) => f[n]), tf.reverse(f[names[0]], 2)]);
    const d = tf.tidy(() => Array.from(net.embed(dlibInput(batch)).arraySync() as number[][]));
    const dist = (a: number[], b: number[]) =>
      Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));
    const mirror = dist(d[0], d[3]);
    const others = [dist(d[0], d[1]), dist(d[0], d[2]), dist(d[1], d[2])];
    assert.ok(mirror < 0.6, `face vs its mirror: ${mirror} (dlib's same-person threshold is 0.6)`);
    for (const o of others) assert.ok(o > mirror, `different faces at ${o}, mirror at ${mirror}`);
    // The loss orders them the same way (cosine distance of normalised descriptors).
    const loss = new FaceIdLoss({}, net);
    const same = loss.forward(tf.reverse(f[names[0]], 2), f[names[0]]).dataSync()[0];
    const diff = loss.forward(f[names[1]], f[names[0]]).dataSync()[0];
    assert.ok(same < diff, `loss: mirror ${same}, other face ${diff}`);
    tf.dispose([batch, ...Object.values(f)]);
  });

  test("the loss's gradient w.r.t. the image is finite and non-zero", () => {
    const f = faces();
    const names = Object.keys(f).sort();
    const loss = new FaceIdLoss({}, net);
    const pred = tf.reverse(f[names[0]], 2);
    const g = tf.grad((t: tf.Tensor) => loss.forward(t, f[names[0]]))(pred);
    const values = g.dataSync();
    assert.ok(values.every(Number.isFinite), 'finite gradient');
    assert.ok(
      values.some((v) => v !== 0),
      'non-zero gradient',
    );
    tf.dispose([g, pred, ...Object.values(f)]);
  });

  test("the descriptors equal face-api's own FaceRecognitionNet's, bit for bit on wasm", async () => {
    const faceapi = createRequire(import.meta.url)(
      '@vladmandic/face-api/dist/face-api.node-wasm.js',
    );
    await faceapi.nets.faceRecognitionNet.loadFromDisk(faceApiModelDir());
    for (const [n, img] of Object.entries(faceChips())) {
      const theirs = Array.from(
        (await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(img)) as Float32Array,
      );
      const ours = tf.tidy(() => Array.from(net.embed(img.expandDims(0)).dataSync()));
      if (tf.getBackend() === 'wasm') {
        assert.deepEqual(ours, theirs, n);
      } else {
        // face-api's node-wasm bundle runs its own TF.js on wasm: on another backend the kernels
        // sum in another order, so the descriptors agree to float32 rounding only.
        tf.tidy(() =>
          assertClose(tf.tensor1d(ours), tf.tensor1d(theirs), { rtol: 1e-5, atol: 1e-6, what: n }),
        );
      }
      img.dispose();
    }
    faceapi.nets.faceRecognitionNet.dispose();
  });

  test('the default facenet is dlib, loaded by genloss/node', async () => {
    const loss = new FaceIdLoss();
    assert.equal(loss.cfg.facenet.type, 'DlibFaceRecognition');
    assert.equal(loss.lossName(), 'loss_id');
    const x = uniform([1, 24, 24, 3], 3, -1, 1);
    assert.throws(() => loss.forward(x, x), /no dlib face-recognition weights loaded/);
    await loadFaceIdWeights(loss);
    const out = loss.forward(x, x);
    assert.ok(Math.abs(out.dataSync()[0]) < 1e-5);
    tf.dispose([x, out]);
    loss.dispose();
  });
});
