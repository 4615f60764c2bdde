#!/usr/bin/env python3
"""PyTorch reference values for genloss's SSIM losses (src/losses/ssim.ts).

An independent float64 implementation of piq's definitions (piq/ssim.py and piq/ms_ssim.py, not
installed here): `ssim` (inputs divided by data_range; average-pooled by
f = max(1, round(min(H, W) / 256)) when downsample; a normalised 2-D Gaussian window applied per
channel by a grouped 'valid' conv2d; c1 = k1^2, c2 = k2^2; the SSIM and CS maps averaged over the
pixels, then over the channels) and `multi_scale_ssim` (per scale CS, the last scale SSIM; between
scales replicate padding of max(H % 2, W % 2) on the top and left and a 2x2 average pool; relu,
power of the scale weight, product over the scales, mean over the channels; given scale weights
normalised to sum 1). SSIMLoss / MultiScaleSSIMLoss are loss_weight * reduce(1 - value).

The images are procedural, the same formula in test/losses/ssim.test.ts (`proceduralImage`):
integer hashes and float64 arithmetic, rounded to float32, so that large images need not be stored.
The JSON keeps the outputs and, per input, the gradient at sampled NHWC positions (every position
for small images) and the sum of its absolute values.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_ssim.py

It rewrites test/reference/ssim.json deterministically.
"""

import json
import os

import torch
import torch.nn.functional as F

from common import number, write_reference

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_ssim.py"
PAPER_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
MAX_FULL = 4000  # gradients of at most this many elements are stored whole
SAMPLES = 97  # otherwise, this many sampled positions (plus the first and the last)

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------------------------------------
# Procedural images (mirrored in the test): NHWC index (n, h, w, c) -> a float32 value.

def hash_unit(n, h, w, c, seed):
    """A value in [0, 1) from exact integer arithmetic (every product < 2^53)."""
    k = (n * 7 + c * 3 + seed * 11) % 1009
    v = (h * 131 + w * 197 + k * 4099) % 65521
    return ((v * v) % 65521) / 65521.0


def image(shape_nhwc, spec):
    """spec: {"seed": s, "data_range": r, "kind": "base" | "noisy" | "flat" | "invert",
    ...}. Returns an NHWC float64 tensor holding float32 values."""
    n_, h_, w_, c_ = shape_nhwc
    n = torch.arange(n_, dtype=torch.int64).view(-1, 1, 1, 1)
    h = torch.arange(h_, dtype=torch.int64).view(1, -1, 1, 1)
    w = torch.arange(w_, dtype=torch.int64).view(1, 1, -1, 1)
    c = torch.arange(c_, dtype=torch.int64).view(1, 1, 1, -1)
    seed = spec["seed"]
    r = float(spec["data_range"])
    noise = hash_unit(n, h, w, c, seed).double()
    # A smooth ramp plus hashed texture, in [0, 1].
    ramp = (h + w).double() / float(h_ + w_)
    base = 0.5 * ramp + 0.5 * noise
    kind = spec["kind"]
    if kind == "base":
        v = base
    elif kind == "noisy":
        # base of `of_seed` plus noise of amplitude `amp`, clipped to [0, 1].
        other = 0.5 * ramp + 0.5 * hash_unit(n, h, w, c, spec["of_seed"]).double()
        v = (other + (noise - 0.5) * spec["amp"]).clamp(0.0, 1.0)
    elif kind == "invert":
        other = 0.5 * ramp + 0.5 * hash_unit(n, h, w, c, spec["of_seed"]).double()
        v = 1.0 - other
    else:
        raise ValueError(kind)
    if spec.get("flat") is not None:
        # A flat block: rows and columns below `flat` take the constant `level`.
        fh, fw, level = spec["flat"]
        inside = (h < fh) & (w < fw)
        v = torch.where(inside.expand_as(v), torch.full_like(v, level), v)
    v = (v * r).to(torch.float32).to(torch.float64)
    return v.expand(n_, h_, w_, c_).contiguous()


# ---------------------------------------------------------------------------------------------
# piq's definitions, NCHW, float64.

def gaussian_window(k, sigma):
    coords = torch.arange(k, dtype=torch.float64) - (k - 1) / 2.0
    g = coords ** 2
    g = torch.exp(-(g.unsqueeze(0) + g.unsqueeze(1)) / (2 * sigma ** 2))
    return (g / g.sum()).unsqueeze(0)  # 1 x k x k


def ssim_per_channel(x, y, kernel, k1, k2):
    c = x.size(1)
    win = kernel.repeat(c, 1, 1, 1)
    if x.size(-1) < win.size(-1) or x.size(-2) < win.size(-2):
        raise ValueError("kernel larger than the image")
    conv = lambda t: F.conv2d(t, win, stride=1, padding=0, groups=c)
    c1, c2 = k1 ** 2, k2 ** 2
    mu_x, mu_y = conv(x), conv(y)
    mu_xx, mu_yy, mu_xy = mu_x ** 2, mu_y ** 2, mu_x * mu_y
    s_xx = conv(x * x) - mu_xx
    s_yy = conv(y * y) - mu_yy
    s_xy = conv(x * y) - mu_xy
    cs = (2.0 * s_xy + c2) / (s_xx + s_yy + c2)
    ss = (2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs
    return ss.mean(dim=(-1, -2)), cs.mean(dim=(-1, -2))


def check_range(t, data_range):
    assert float(t.min()) >= 0 and float(t.max()) <= data_range, "input outside [0, data_range]"


def ssim(x, y, kernel_size=11, kernel_sigma=1.5, data_range=1.0, downsample=True, k1=0.01, k2=0.03):
    assert kernel_size % 2 == 1
    check_range(x, data_range)
    check_range(y, data_range)
    x = x / data_range
    y = y / data_range
    f = max(1, round(min(x.size()[-2:]) / 256))  # Python's round: halves to even
    if f > 1 and downsample:
        x = F.avg_pool2d(x, kernel_size=f)
        y = F.avg_pool2d(y, kernel_size=f)
    s, _ = ssim_per_channel(x, y, gaussian_window(kernel_size, kernel_sigma), k1, k2)
    return s.mean(1)


def multi_scale_ssim(x, y, kernel_size=11, kernel_sigma=1.5, data_range=1.0, scale_weights=None,
                     k1=0.01, k2=0.03):
    assert kernel_size % 2 == 1
    check_range(x, data_range)
    check_range(y, data_range)
    x = x / float(data_range)
    y = y / float(data_range)
    if scale_weights is None:
        w = torch.tensor(PAPER_WEIGHTS)
    else:
        w = torch.tensor(scale_weights, dtype=torch.float64)
        w = w / w.sum()
    levels = w.size(0)
    min_size = (kernel_size - 1) * 2 ** (levels - 1) + 1
    if x.size(-1) < min_size or x.size(-2) < min_size:
        raise ValueError(f"expected at least {min_size}x{min_size}")
    kernel = gaussian_window(kernel_size, kernel_sigma)
    mcs = []
    s = None
    for i in range(levels):
        if i > 0:
            p = max(x.shape[2] % 2, x.shape[3] % 2)
            x = F.pad(x, pad=[p, 0, p, 0], mode="replicate")
            y = F.pad(y, pad=[p, 0, p, 0], mode="replicate")
            x = F.avg_pool2d(x, kernel_size=2, padding=0)
            y = F.avg_pool2d(y, kernel_size=2, padding=0)
        s, cs = ssim_per_channel(x, y, kernel, k1, k2)
        mcs.append(cs)
    stacked = torch.relu(torch.stack(mcs[:-1] + [s], dim=0))
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(1)


def reduce(v, reduction):
    if reduction == "none":
        return v
    return v.sum() if reduction == "sum" else v.mean()


def loss(typ, cfg, x, y):
    keys = {k: v for k, v in cfg.items() if k not in ("loss_weight", "reduction")}
    if typ == "SSIMLoss":
        value = ssim(x, y, **keys)
    else:
        if "scale_weights" not in keys:
            keys["scale_weights"] = PAPER_WEIGHTS  # the class passes its weights on: normalised
        value = multi_scale_ssim(x, y, **keys)
    return cfg.get("loss_weight", 1.0) * reduce(1.0 - value, cfg.get("reduction", "mean"))


# ---------------------------------------------------------------------------------------------
# Cases.

def spec(seed, r, kind="base", **extra):
    return {"seed": seed, "data_range": r, "kind": kind, **extra}


def pair(seed, r, amp=0.2, flat=None, kind="noisy"):
    """x: a base image; y: x's base with noise (or inverted), both with the same flat block."""
    y_spec = spec(seed + 1, r, kind, of_seed=seed)
    if kind == "noisy":
        y_spec["amp"] = amp
    x_spec = spec(seed, r)
    if flat is not None:
        x_spec["flat"] = flat
        y_spec["flat"] = [flat[0], flat[1], flat[2] * 0.8]
    return x_spec, y_spec


def identical(seed, r, flat=None):
    x_spec = spec(seed, r)
    if flat is not None:
        x_spec["flat"] = flat
    return x_spec, dict(x_spec)


# (id, type, config, NHWC shape, (x spec, y spec))
CASES = [
    # SSIM: grey and RGB, data_range 1 and 255, every reduction, custom window and constants.
    ("ssim/grey/r1/mean", "SSIMLoss", {}, [1, 40, 36, 1], pair(1, 1.0)),
    ("ssim/grey/r255/sum/lw0.5", "SSIMLoss", {"data_range": 255, "reduction": "sum", "loss_weight": 0.5},
     [2, 33, 30, 1], pair(2, 255.0)),
    ("ssim/rgb/r1/none", "SSIMLoss", {"reduction": "none"}, [2, 30, 28, 3], pair(3, 1.0, amp=0.5)),
    ("ssim/rgb/r255/mean", "SSIMLoss", {"data_range": 255}, [2, 26, 31, 3], pair(4, 255.0)),
    ("ssim/rgb/k7-s1-k1-k2", "SSIMLoss",
     {"kernel_size": 7, "kernel_sigma": 1.0, "k1": 0.02, "k2": 0.05, "reduction": "none"},
     [2, 20, 17, 3], pair(5, 1.0, amp=0.4)),
    ("ssim/grey/k1-window", "SSIMLoss", {"kernel_size": 1}, [1, 6, 5, 1], pair(6, 1.0)),
    ("ssim/grey/minimum-size", "SSIMLoss", {}, [2, 11, 11, 1], pair(7, 1.0)),
    # Identical images: loss 0, zero gradient. Flat regions (CS = c2/c2 there).
    ("ssim/rgb/identical", "SSIMLoss", {}, [2, 24, 22, 3], identical(8, 1.0)),
    ("ssim/grey/identical-flat/r255", "SSIMLoss", {"data_range": 255}, [1, 25, 24, 1],
     identical(9, 255.0, flat=[14, 16, 0.5])),
    ("ssim/rgb/flat", "SSIMLoss", {}, [1, 30, 26, 3], pair(10, 1.0, flat=[20, 18, 0.6])),
    ("ssim/grey/all-flat", "SSIMLoss", {}, [1, 12, 13, 1], pair(11, 1.0, flat=[12, 13, 0.4])),
    # downsample: f = 1 at 300x260 (on and off agree), f = 2 at 400x390 (on), and off there.
    ("ssim/rgb/300x260/downsample", "SSIMLoss", {}, [1, 300, 260, 3], pair(12, 1.0)),
    ("ssim/grey/400x390/downsample-f2", "SSIMLoss", {"data_range": 255}, [1, 400, 390, 1],
     pair(13, 255.0)),
    ("ssim/grey/400x390/no-downsample", "SSIMLoss", {"data_range": 255, "downsample": False},
     [1, 400, 390, 1], pair(13, 255.0)),
    # MS-SSIM: defaults at the minimum size (161, odd: replicate padding), RGB 255, custom weights.
    ("ms-ssim/grey/161x170", "MultiScaleSSIMLoss", {"reduction": "none"}, [2, 161, 170, 1],
     pair(20, 1.0)),
    ("ms-ssim/rgb/r255/161x161", "MultiScaleSSIMLoss", {"data_range": 255}, [1, 161, 161, 3],
     pair(21, 255.0, amp=0.3)),
    ("ms-ssim/rgb/k5-weights3", "MultiScaleSSIMLoss",
     {"kernel_size": 5, "kernel_sigma": 1.0, "scale_weights": [1.0, 2.0, 3.0], "reduction": "sum"},
     [2, 17, 20, 3], pair(22, 1.0, amp=0.4)),
    ("ms-ssim/grey/k3-weights4-zero/r255", "MultiScaleSSIMLoss",
     {"kernel_size": 3, "scale_weights": [0.5, 0.0, 0.25, 1.0], "data_range": 255, "k2": 0.05},
     [2, 19, 17, 1], pair(23, 255.0, amp=0.5)),
    ("ms-ssim/rgb/k3-weights2/identical", "MultiScaleSSIMLoss",
     {"kernel_size": 3, "scale_weights": [0.3, 0.7]}, [1, 9, 8, 3], identical(24, 1.0)),
    ("ms-ssim/rgb/k5-weights3/flat", "MultiScaleSSIMLoss",
     {"kernel_size": 5, "scale_weights": [0.2, 0.3, 0.5], "loss_weight": 2.0}, [1, 22, 21, 3],
     pair(25, 1.0, flat=[12, 21, 0.3])),
    # Anti-correlated: negative CS at some scales (relu'd to 0, zero gradient through it).
    ("ms-ssim/grey/k3-weights3/inverted", "MultiScaleSSIMLoss",
     {"kernel_size": 3, "scale_weights": [0.4, 0.3, 0.3], "reduction": "none"}, [2, 12, 13, 1],
     pair(26, 1.0, kind="invert")),
]


def sample_indices(size, key):
    if size <= MAX_FULL:
        return None
    g = torch.Generator().manual_seed(sum(ord(ch) * (i + 1) for i, ch in enumerate(key)))
    idx = torch.randperm(size, generator=g)[:SAMPLES].tolist()
    return sorted(set([0, size - 1] + idx))


def make_case(cid, typ, cfg, shape, specs):
    x = image(shape, specs[0]).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    y = image(shape, specs[1]).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    out = loss(typ, cfg, x, y)
    case = {"id": cid, "type": typ, "config": cfg, "shape": shape,
            "x": specs[0], "y": specs[1], "output_shape": list(out.shape),
            "output": [number(v) for v in out.reshape(-1).tolist()]}
    if out.dim() == 0:
        target = out
    else:
        cot = torch.tensor([1.0, -0.5, 0.25][: out.numel()])
        case["cotangent"] = cot.tolist()
        target = (out * cot).sum()
    gx, gy = torch.autograd.grad(target, [x, y])
    grads = {}
    for name, g in (("x", gx), ("y", gy)):
        assert torch.isfinite(g).all(), f"{cid}: non-finite gradient"
        flat = g.permute(0, 2, 3, 1).reshape(-1)  # NHWC order, as the test indexes
        idx = sample_indices(flat.numel(), cid + name)
        values = flat if idx is None else flat[idx]
        entry = {"values": [number(v) for v in values.tolist()],
                 "abs_sum": number(flat.abs().sum())}
        if idx is not None:
            entry["index"] = idx
        grads[name] = entry
    case["grads"] = grads
    return case


def check_identities():
    """What the losses are documented with: 1 at identical images, downsample on = off at f = 1,
    f = 2 equals pooling by hand, MS-SSIM's minimum size, relu'd negative CS."""
    xs, ys = pair(40, 1.0)
    x = image([1, 30, 31, 3], xs).permute(0, 3, 1, 2)
    y = image([1, 30, 31, 3], ys).permute(0, 3, 1, 2)
    assert torch.allclose(ssim(x, x), torch.ones(1), atol=1e-12)
    assert torch.allclose(ssim(x, y), ssim(x, y, downsample=False))
    assert torch.allclose(ssim(x * 255, y * 255, data_range=255), ssim(x, y))
    big = image([1, 400, 390, 1], xs).permute(0, 3, 1, 2)
    big_y = image([1, 400, 390, 1], ys).permute(0, 3, 1, 2)
    assert torch.allclose(ssim(big, big_y),
                          ssim(F.avg_pool2d(big, 2), F.avg_pool2d(big_y, 2), downsample=False))
    assert round(640 / 256) == 2 and round(384 / 256) == 2  # halves to even
    small = image([1, 160, 170, 1], xs).permute(0, 3, 1, 2)
    try:
        multi_scale_ssim(small, small)
        raise AssertionError("160 should be too small")
    except ValueError as e:
        assert "161x161" in str(e)
    xi, yi = pair(26, 1.0, kind="invert")
    a = image([2, 12, 13, 1], xi).permute(0, 3, 1, 2)
    b = image([2, 12, 13, 1], yi).permute(0, 3, 1, 2)
    cs0 = ssim_per_channel(a / 1.0, b / 1.0, gaussian_window(3, 1.5), 0.01, 0.03)[1]
    assert (cs0 < 0).all(), "the inverted case should have a negative CS at scale 0"
    print("ssim identities: OK")


def main():
    torch.manual_seed(0)
    check_identities()
    cases = [make_case(*c) for c in CASES]
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    head = {"generator": GENERATOR, "torch": torch.__version__}
    text = write_reference(os.path.join(OUT_DIR, "ssim.json"), head, {"cases": cases})
    json.loads(text)
    print(f"ssim.json: {len(cases)} cases, {len(text)} bytes")


if __name__ == "__main__":
    main()
