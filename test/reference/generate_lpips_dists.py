#!/usr/bin/env python3
"""PyTorch reference values for genloss's LPIPS and DISTS (src/losses/learned-perceptual.ts).

Independent float64 re-implementation (not the packages' code) of
- LPIPS, richzhang/PerceptualSimilarity lpips/lpips.py (`LPIPS(net='vgg', version='0.1')`,
  `forward(in0, in1, normalize)`): ScalingLayer (x - shift) / scale, torchvision VGG16 taps
  relu1_2..relu5_3 (features 3, 8, 15, 22, 29; lpips/pretrained_networks.py `vgg16`),
  `normalize_tensor` f / (sqrt(sum_c f^2) + 1e-10), squared differences, the bias-free 1x1 heads
  `lin{k}.model.1.weight` (or the channel sum with lpips=False), `spatial_average` or, with
  spatial=True, `upsample` (bilinear, align_corners=False) to the input size, summed over taps;
- DISTS, dingkeyan93/DISTS DISTS_pytorch/DISTS_pt.py (`DISTS.forward(x, y, require_grad=True)`):
  ImageNet mean/std, VGG16 with `L2pooling` (hanning(5)[1:-1] window, stride 2, padding 1,
  sqrt(. + 1e-12)) instead of max-pools, stages [x, relu1_2, ..., relu5_3], alpha and beta split
  per stage and divided by their total, c1 = c2 = 1e-6, S1 from the means, S2 from the
  variances and E[xy] - mu_x mu_y, score 1 - sum.

The VGG16 is generate_perceptual.py's small VGG-shaped network (perceptual/vgg16_small.safetensors,
widths 4/6/8/8/8 at the five taps; checked here to be that file). The heads are random and
written to perceptual/lpips_heads_small.safetensors (lin0..lin4, [1, C_k, 1, 1], non-negative as
the published ones) and perceptual/dists_small.safetensors (alpha, beta, [1, 37, 1, 1], drawn as
the official initialisation N(0.1, 0.01)), so the TypeScript tests load the same weights through
genloss's loaders.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_lpips_dists.py

It rewrites test/reference/lpips_dists.json and the two safetensors files deterministically.
"""

import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

import generate_perceptual as gp
from common import write_cases

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_lpips_dists.py"
gp.GENERATOR = GENERATOR  # the safetensors files written here name this script
torch.set_default_dtype(torch.float64)

TAPS = [3, 8, 15, 22, 29]
BACKBONE = "vgg16_small.safetensors"
LPIPS_HEADS = "lpips_heads_small.safetensors"
DISTS_WEIGHTS = "dists_small.safetensors"

SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def read_safetensors(path):
    """{name: float64 tensor} of an F32 safetensors file (to check the committed backbone)."""
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", name
        lo, hi = entry["data_offsets"]
        values = np.frombuffer(body[lo:hi], dtype="<f4").astype(np.float64)
        out[name] = torch.from_numpy(values.copy()).view(entry["shape"])
    return out


def l2pool(x):
    a = np.hanning(5)[1:-1]
    g = torch.tensor(a[:, None] * a[None, :])
    g = g / g.sum()
    c = x.shape[1]
    filt = g[None, None, :, :].repeat(c, 1, 1, 1)
    return (F.conv2d(x ** 2, filt, stride=2, padding=1, groups=c) + 1e-12).sqrt()


def vgg16_taps(sd, x, pool):
    out = []
    h = x
    for i, layer in enumerate(gp.vgg_layers("vgg16")[: TAPS[-1] + 1]):
        if layer[0] == "conv":
            h = F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1)
        elif layer[0] == "relu":
            h = F.relu(h)
        else:
            h = F.max_pool2d(h, 2, 2) if pool == "max" else l2pool(h)
        if i in TAPS:
            out.append(h)
    return out


def normalize_tensor(f, eps=1e-10):
    return f / (torch.sqrt((f ** 2).sum(1, keepdim=True)) + eps)


def lpips_value(sd, heads, in0, in1, lpips=True, spatial=False, normalize=False):
    """The official LPIPS.forward: N x 1 x 1 x 1, or N x 1 x H x W with spatial."""
    if normalize:
        in0, in1 = 2 * in0 - 1, 2 * in1 - 1
    o0 = vgg16_taps(sd, (in0 - SHIFT) / SCALE, "max")
    o1 = vgg16_taps(sd, (in1 - SHIFT) / SCALE, "max")
    val = 0
    for k in range(len(TAPS)):
        d = (normalize_tensor(o0[k]) - normalize_tensor(o1[k])) ** 2
        m = F.conv2d(d, heads[f"lin{k}.model.1.weight"]) if lpips else d.sum(1, keepdim=True)
        if spatial:
            r = F.interpolate(m, size=tuple(in0.shape[2:]), mode="bilinear", align_corners=False)
        else:
            r = m.mean([2, 3], keepdim=True)
        val = val + r
    return val


def dists_value(sd, weights, x, y):
    """The official DISTS.forward, per image (N,)."""
    chns = [3] + [sd[f"features.{t - 1}.bias"].shape[0] for t in TAPS]
    f0 = [x] + vgg16_taps(sd, (x - MEAN) / STD, "l2")
    f1 = [y] + vgg16_taps(sd, (y - MEAN) / STD, "l2")
    c1 = c2 = 1e-6
    w_sum = weights["alpha"].sum() + weights["beta"].sum()
    alpha = torch.split(weights["alpha"] / w_sum, chns, dim=1)
    beta = torch.split(weights["beta"] / w_sum, chns, dim=1)
    dist1 = dist2 = 0
    for k in range(len(chns)):
        x_mean = f0[k].mean([2, 3], keepdim=True)
        y_mean = f1[k].mean([2, 3], keepdim=True)
        s1 = (2 * x_mean * y_mean + c1) / (x_mean ** 2 + y_mean ** 2 + c1)
        dist1 = dist1 + (alpha[k] * s1).sum(1, keepdim=True)
        x_var = ((f0[k] - x_mean) ** 2).mean([2, 3], keepdim=True)
        y_var = ((f1[k] - y_mean) ** 2).mean([2, 3], keepdim=True)
        xy_cov = (f0[k] * f1[k]).mean([2, 3], keepdim=True) - x_mean * y_mean
        s2 = (2 * xy_cov + c2) / (x_var + y_var + c2)
        dist2 = dist2 + (beta[k] * s2).sum(1, keepdim=True)
    return 1 - (dist1 + dist2).reshape(-1)


def reduce(v, reduction):
    return v if reduction == "none" else (v.sum() if reduction == "sum" else v.mean())


def case(cid, loss_type, config, fn, x, y, names):
    """A case in the common format: grads w.r.t. both images (of sum(out * cotangent) if not scalar)."""
    cot = None
    out0 = fn(x, y)
    if out0.dim() > 0:
        cot = gp.rand(tuple(out0.shape), cid + "/cot", -1, 1)
    out, g = gp.grads_of(fn, [x, y], {names[0]: 0, names[1]: 1}, cot)
    for v in [out, *g.values()]:
        assert torch.isfinite(v).all(), cid
    c = {"id": cid, "type": loss_type, "config": config,
         "args": [{"name": names[0], "tensor": gp.enc(x)}, {"name": names[1], "tensor": gp.enc(y)}],
         "output": gp.enc(out), "grads": {k: gp.enc(v) for k, v in g.items()}}
    if cot is not None:
        c["cotangent"] = gp.enc(cot)
    return c


def main():
    sd = gp.vgg_weights("vgg16")
    committed = read_safetensors(os.path.join(gp.OUT_DIR, BACKBONE))
    assert set(committed) == set(sd) and all(torch.equal(committed[k], sd[k]) for k in sd), \
        "perceptual/vgg16_small.safetensors differs from generate_perceptual.py's vgg_weights('vgg16')"
    widths = [sd[f"features.{t - 1}.bias"].shape[0] for t in TAPS]
    heads = {f"lin{k}.model.1.weight": gp.rand((1, c, 1, 1), f"lpips/lin{k}", 0.05, 1.0) for k, c in enumerate(widths)}
    total = 3 + sum(widths)
    weights = {name: gp.f32(0.1 + gp.randn((1, total, 1, 1), f"dists/{name}", 0.01)) for name in ("alpha", "beta")}
    gp.write_safetensors(os.path.join(gp.OUT_DIR, LPIPS_HEADS), heads)
    gp.write_safetensors(os.path.join(gp.OUT_DIR, DISTS_WEIGHTS), weights)

    cases = []
    files = {"pretrained": BACKBONE}
    lpips_configs = [
        ({}, (2, 16, 16), "pair"),
        ({"lpips": False}, (2, 16, 16), "pair"),
        ({"spatial": True, "reduction": "none"}, (1, 32, 32), "pair"),
        ({"spatial": True, "lpips": False, "loss_weight": 2.0}, (2, 20, 20), "pair"),
        ({"normalize": True, "reduction": "sum", "loss_weight": 0.5}, (2, 16, 16), "pair"),
        ({"reduction": "none"}, (2, 16, 16), "near"),
        ({"spatial": True, "reduction": "none"}, (1, 24, 20), "pair"),
        ({"lpips": False, "reduction": "sum"}, (1, 17, 23), "pair"),
        ({}, (2, 16, 16), "identical"),
    ]
    for cfg, (n, h, w), kind in lpips_configs:
        config = dict(cfg, model_path=LPIPS_HEADS, **files)
        key = ",".join(f"{k}={str(v).lower()}" for k, v in sorted(cfg.items())) or "defaults"
        cid = f"LPIPS/{key}/{n}x{h}x{w}/{kind}"
        lo = 0.0 if cfg.get("normalize") else -1.0
        x = gp.rand((n, 3, h, w), cid + "/x", lo, 1.0)
        y = x.clone() if kind == "identical" else gp.rand((n, 3, h, w), cid + "/y", lo, 1.0)
        if kind == "near":
            y = gp.f32((x + 0.05 * (y - x)).clamp(lo, 1.0))

        def fn(a, b, cfg=cfg):
            opts = {k: cfg[k] for k in ("lpips", "spatial", "normalize") if k in cfg}
            v = lpips_value(sd, heads, a, b, **opts)
            v = v if cfg.get("spatial") else v.reshape(-1)
            return reduce(v, cfg.get("reduction", "mean")) * cfg.get("loss_weight", 1.0)

        cases.append(case(cid, "LPIPS", config, fn, x, y, ("in0", "in1")))
        if kind == "identical":
            assert float(cases[-1]["output"]["data"][0]) == 0.0

    dists_configs = [
        ({}, (2, 16, 16), "pair"),
        ({"reduction": "none"}, (1, 32, 32), "pair"),
        ({"reduction": "sum", "loss_weight": 2.0}, (2, 16, 16), "near"),
        ({"reduction": "none"}, (1, 21, 18), "pair"),
        ({"reduction": "none"}, (2, 16, 16), "identical"),
    ]
    for cfg, (n, h, w), kind in dists_configs:
        config = dict(cfg, model_path=DISTS_WEIGHTS, **files)
        key = ",".join(f"{k}={str(v).lower()}" for k, v in sorted(cfg.items())) or "defaults"
        cid = f"DISTS/{key}/{n}x{h}x{w}/{kind}"
        x = gp.rand((n, 3, h, w), cid + "/x", 0.0, 1.0)
        y = x.clone() if kind == "identical" else gp.rand((n, 3, h, w), cid + "/y", 0.0, 1.0)
        if kind == "near":
            y = gp.f32((x + 0.05 * (y - x)).clamp(0.0, 1.0))

        def fn(a, b, cfg=cfg):
            return reduce(dists_value(sd, weights, a, b), cfg.get("reduction", "mean")) * cfg.get("loss_weight", 1.0)

        cases.append(case(cid, "DISTS", config, fn, x, y, ("x", "y")))
        if kind == "identical":
            assert max(abs(v) for v in cases[-1]["output"]["data"]) < 1e-12

    write_cases(HERE, "lpips_dists.json", GENERATOR, cases)


if __name__ == "__main__":
    main()
