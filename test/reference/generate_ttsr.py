#!/usr/bin/env python3
"""PyTorch reference values for MMagic's TTSR networks (genloss src/nets/ttsr.ts).

Independent float64 re-implementation of mmagic/models/editors/ttsr/: `LTE.forward` (ImageNet
normalisation, VGG19's features[0:12] in three slices, returning [level3, level2, level1]),
`SearchTransformer.forward` (3x3 unfold of the level-3 features, L2 normalisation, relevance by
bmm, max / argmax over the reference positions, gather and fold of the reference's value patches
at three levels, / 9) and `TTSRNet.forward` (SFE, three stages with soft attention, CSFI2, CSFI3,
MergeFeatures, clamp to [-1, 1]), with random weights small enough that nothing is clamped.
Weights are written under their PyTorch state-dict names, convolutions as OIHW ("plain" layout).

Run from the repository root:

    /usr/bin/python3 test/reference/generate_ttsr.py

It rewrites test/reference/ttsr.json deterministically.
"""

import os

import torch
import torch.nn.functional as F

from common import Rng, tensor_json, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_ttsr.py"

VGG_MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
VGG_STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)


def conv(p, name, x, stride=1):
    w = p[name + ".weight"]
    return F.conv2d(x, w, p[name + ".bias"], stride=stride, padding=w.shape[-1] // 2)


def bicubic(x, s):
    return F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)


def lte(p, x, pixel_range=1.0):
    x = (x - pixel_range * VGG_MEAN) / (pixel_range * VGG_STD)
    x = F.relu(conv(p, "slice1.0", x))
    level1 = x
    x = F.relu(conv(p, "slice2.2", x))
    x = F.max_pool2d(x, 2, 2)
    x = F.relu(conv(p, "slice2.5", x))
    level2 = x
    x = F.relu(conv(p, "slice3.7", x))
    x = F.max_pool2d(x, 2, 2)
    x = F.relu(conv(p, "slice3.10", x))
    return [x, level2, level1]


def search_transformer(img_lq, ref_lq, refs):
    """MMagic's SearchTransformer.forward."""
    n, _, h, w = img_lq.shape
    query = F.unfold(img_lq, kernel_size=(3, 3), padding=1)
    key = F.unfold(ref_lq, kernel_size=(3, 3), padding=1)
    key_t = key.permute(0, 2, 1)
    values = [F.unfold(refs[i], kernel_size=3 * 2**i, padding=2**i, stride=2**i) for i in range(len(refs))]
    key_t = F.normalize(key_t, dim=2)
    query = F.normalize(query, dim=1)
    rel = torch.bmm(key_t, query)
    max_val, max_index = torch.max(rel, dim=1)
    textures = []
    for i, v in enumerate(values):
        index = max_index.view(n, 1, -1).expand(-1, v.size(1), -1)
        t = torch.gather(v, 2, index)
        t = F.fold(t, output_size=(h * 2**i, w * 2**i), kernel_size=3 * 2**i, padding=2**i, stride=2**i) / 9.0
        textures.append(t)
    return max_val.view(n, 1, h, w), textures


def res_blocks(p, name, count, x, res_scale):
    for b in range(count):
        r = conv(p, "%s.%d.conv2" % (name, b), F.relu(conv(p, "%s.%d.conv1" % (name, b), x)))
        x = x + r * res_scale
    return x


def ttsr_net(p, x, soft, textures, num_blocks, res_scale):
    """MMagic's TTSRNet.forward (with SFE, CSFI2, CSFI3, MergeFeatures inlined)."""
    b0, b1, b2, b3 = num_blocks
    c = lambda name, v, s=1: conv(p, name, v, s)  # noqa: E731
    rc = lambda name, v, s=1: F.relu(conv(p, name, v, s))  # noqa: E731
    x1 = first = rc("sfe.conv_first", x)
    x1 = c("sfe.conv_last", res_blocks(p, "sfe.body", b0, x1, res_scale)) + first
    x1_res = c("conv_first1", torch.cat((x1, textures[0]), 1))
    x1 = x1 + x1_res * soft
    x1 = x1 + c("conv_last1", res_blocks(p, "res_block1", b1, x1, res_scale))
    x21 = x1
    x22 = F.relu(F.pixel_shuffle(c("up1.upsample_conv", x1), 2))
    x22_res = c("conv_first2", torch.cat((x22, textures[1]), 1)) * bicubic(soft, 2)
    x22 = x22 + x22_res
    x12 = rc("csfi2.conv1to2", bicubic(x21, 2))
    x21_ = rc("csfi2.conv2to1", x22, 2)
    m1 = rc("csfi2.conv_merge1", torch.cat((x21, x21_), 1))
    m2 = rc("csfi2.conv_merge2", torch.cat((x22, x12), 1))
    x21 = x21 + c("conv_last2_1", res_blocks(p, "res_block2_1", b2, m1, res_scale))
    x22 = x22 + c("conv_last2_2", res_blocks(p, "res_block2_2", b2, m2, res_scale))
    x31, x32 = x21, x22
    x33 = F.relu(F.pixel_shuffle(c("up2.upsample_conv", x22), 2))
    x33 = x33 + c("conv_first3", torch.cat((x33, textures[2]), 1)) * bicubic(soft, 4)
    s12 = rc("csfi3.conv1to2", bicubic(x31, 2))
    s14 = rc("csfi3.conv1to4", bicubic(x31, 4))
    s21 = rc("csfi3.conv2to1", x32, 2)
    s24 = rc("csfi3.conv2to4", bicubic(x32, 2))
    s41 = rc("csfi3.conv4to1_2", rc("csfi3.conv4to1_1", x33, 2), 2)
    s42 = rc("csfi3.conv4to2", x33, 2)
    m1 = rc("csfi3.conv_merge1", torch.cat((x31, s21, s41), 1))
    m2 = rc("csfi3.conv_merge2", torch.cat((x32, s12, s42), 1))
    m4 = rc("csfi3.conv_merge4", torch.cat((x33, s14, s24), 1))
    x31 = x31 + c("conv_last3_1", res_blocks(p, "res_block3_1", b3, m1, res_scale))
    x32 = x32 + c("conv_last3_2", res_blocks(p, "res_block3_2", b3, m2, res_scale))
    x33 = x33 + c("conv_last3_3", res_blocks(p, "res_block3_3", b3, m4, res_scale))
    f14 = rc("merge_features.conv1to4", bicubic(x31, 4))
    f24 = rc("merge_features.conv2to4", bicubic(x32, 2))
    x = rc("merge_features.conv_merge", torch.cat((x33, f14, f24), 1))
    x = c("merge_features.conv_last2", c("merge_features.conv_last1", x))
    return torch.clamp(x, -1, 1)


def ttsr_net_shapes(cin, cout, m, t, num_blocks):
    """The state dict's conv shapes (name, out, in, k), in TTSRNet's module order."""
    specs = []
    add = lambda name, i, o, k: specs.append((name, o, i, k))  # noqa: E731

    def blocks(name, count):
        for b in range(count):
            add("%s.%d.conv1" % (name, b), m, m, 3)
            add("%s.%d.conv2" % (name, b), m, m, 3)

    b0, b1, b2, b3 = num_blocks
    add("sfe.conv_first", cin, m, 3)
    blocks("sfe.body", b0)
    add("sfe.conv_last", m, m, 3)
    add("conv_first1", 4 * t + m, m, 3)
    blocks("res_block1", b1)
    add("conv_last1", m, m, 3)
    add("up1.upsample_conv", m, 4 * m, 3)
    add("conv_first2", 2 * t + m, m, 3)
    for name, k in [("conv1to2", 1), ("conv2to1", 3)]:
        add("csfi2." + name, m, m, k)
    add("csfi2.conv_merge1", 2 * m, m, 3)
    add("csfi2.conv_merge2", 2 * m, m, 3)
    blocks("res_block2_1", b2)
    blocks("res_block2_2", b2)
    add("conv_last2_1", m, m, 3)
    add("conv_last2_2", m, m, 3)
    add("up2.upsample_conv", m, 4 * m, 3)
    add("conv_first3", t + m, m, 3)
    for name, k in [("conv1to2", 1), ("conv1to4", 1), ("conv2to1", 3), ("conv2to4", 1), ("conv4to1_1", 3), ("conv4to1_2", 3), ("conv4to2", 3)]:
        add("csfi3." + name, m, m, k)
    for name in ["conv_merge1", "conv_merge2", "conv_merge4"]:
        add("csfi3." + name, 3 * m, m, 3)
    for k in (1, 2, 3):
        blocks("res_block3_%d" % k, b3)
    for k in (1, 2, 3):
        add("conv_last3_%d" % k, m, m, 3)
    add("merge_features.conv1to4", m, m, 1)
    add("merge_features.conv2to4", m, m, 1)
    add("merge_features.conv_merge", 3 * m, m, 3)
    add("merge_features.conv_last1", m, m // 2, 3)
    add("merge_features.conv_last2", m // 2, cout, 1)
    return specs


def random_weights(rng, specs, scale):
    p = {}
    for name, o, i, k in specs:
        bound = scale / (i * k * k) ** 0.5
        p[name + ".weight"] = rng.uniform((o, i, k, k), -bound, bound)
        p[name + ".bias"] = rng.uniform((o,), -bound, bound)
    return p


def weights_json(p):
    return {k: tensor_json(v, layout="plain") for k, v in p.items()}


def grads_of(output_terms, wrt):
    total = sum((y * cot).sum() for y, cot in output_terms)
    return torch.autograd.grad(total, wrt)


def main():
    cases = []

    # LTE: N=2, 8x12 images in [0, 1], texture_channels t = 2 (widths 2, 4, 8).
    rng = Rng("ttsr/lte")
    t = 2
    lte_specs = [("slice1.0", t, 3, 3), ("slice2.2", t, t, 3), ("slice2.5", 2 * t, t, 3), ("slice3.7", 2 * t, 2 * t, 3), ("slice3.10", 4 * t, 2 * t, 3)]
    p = random_weights(rng, lte_specs, 2.0)
    x = rng.uniform((2, 3, 8, 12)).requires_grad_(True)
    levels = lte(p, x)
    cots = [rng.normal(tuple(v.shape)) for v in levels]
    (gx,) = grads_of(list(zip(levels, cots)), [x])
    cases.append(
        {
            "id": "LTE/t=2",
            "config": {"texture_channels": t},
            "weights": weights_json(p),
            "x": tensor_json(x),
            "outputs": [tensor_json(v) for v in levels],
            "cotangents": [tensor_json(v) for v in cots],
            "grads": {"x": tensor_json(gx)},
        }
    )

    # SearchTransformer: LQ level-3 features 2x3, reference 3x2 (different sizes), C = 4, 2, 1 per level.
    for n, (h, w), (hr, wr) in [(2, (2, 3), (3, 2)), (1, (3, 3), (3, 3))]:
        rng = Rng("ttsr/search/%dx%d/%dx%d" % (h, w, hr, wr))
        img_lq = rng.uniform((n, 4, h, w)).requires_grad_(True)
        ref_lq = rng.uniform((n, 4, hr, wr)).requires_grad_(True)
        refs = [rng.uniform((n, c, hr * 2**i, wr * 2**i)).requires_grad_(True) for i, c in enumerate([4, 2, 1])]
        soft, textures = search_transformer(img_lq, ref_lq, refs)
        outs = [soft] + textures
        cots = [rng.normal(tuple(v.shape)) for v in outs]
        grads = grads_of(list(zip(outs, cots)), [img_lq, ref_lq] + refs)
        names = ["img_lq", "ref_lq", "refs0", "refs1", "refs2"]
        cases.append(
            {
                "id": "SearchTransformer/%dx%d/%dx%d" % (h, w, hr, wr),
                "args": {k: tensor_json(v) for k, v in zip(names, [img_lq, ref_lq] + refs)},
                "outputs": [tensor_json(v) for v in outs],
                "cotangents": [tensor_json(v) for v in cots],
                "grads": {k: tensor_json(g) for k, g in zip(names, grads)},
            }
        )

    # TTSRNet: mid 4, texture 2, blocks (1, 1, 1, 1), res_scale 1 and 0.5, x 2x3.
    for res_scale in (1.0, 0.5):
        rng = Rng("ttsr/net/res_scale=%g" % res_scale)
        m, t, blocks = 4, 2, (1, 1, 1, 1)
        p = random_weights(rng, ttsr_net_shapes(3, 3, m, t, blocks), 0.5)
        n, h, w = 2, 2, 3
        x = rng.uniform((n, 3, h, w), -1.0, 1.0).requires_grad_(True)
        soft = rng.uniform((n, 1, h, w)).requires_grad_(True)
        textures = [rng.uniform((n, c, h * 2**i, w * 2**i)).requires_grad_(True) for i, c in enumerate([4 * t, 2 * t, t])]
        out = ttsr_net(p, x, soft, textures, blocks, res_scale)
        assert float(out.abs().max()) < 1, "the output reaches the clamp"
        cot = rng.normal(tuple(out.shape))
        names = ["x", "soft_attention", "textures0", "textures1", "textures2"]
        grads = grads_of([(out, cot)], [x, soft] + textures)
        cases.append(
            {
                "id": "TTSRNet/res_scale=%g" % res_scale,
                "config": {"mid_channels": m, "texture_channels": t, "num_blocks": list(blocks), "res_scale": res_scale},
                "weights": weights_json(p),
                "args": {k: tensor_json(v) for k, v in zip(names, [x, soft] + textures)},
                "outputs": [tensor_json(out)],
                "cotangents": [tensor_json(cot)],
                "grads": {k: tensor_json(g) for k, g in zip(names, grads)},
            }
        )
    write_cases(OUT_DIR, "ttsr.json", GENERATOR, cases)


if __name__ == "__main__":
    main()
