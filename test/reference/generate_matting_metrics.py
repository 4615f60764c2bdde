#!/usr/bin/env python3
"""Reference values for genloss's matting metrics (src/metrics/matting.ts).

An independent float64 implementation of MMagic's matting metrics, per image (MMagic's
`mmagic/evaluation/metrics/sad.py`, `matting_mse.py`, `gradient_error.py`,
`connectivity_error.py`, which call mmeval's `SumAbsoluteDifferences`, `GradientError` and
`ConnectivityError`; `metrics_utils.py`'s `_fetch_data_and_check` and `average`):

- every alpha (0..255) is divided by 255.0; the trimap stays 0/128/255, 128 = unknown;
- SAD = sum |pred - gt| over every pixel / norm_const;
- MattingMSE = sum (pred - gt)^2 over every pixel / #unknown (0 when there is none);
- GradientError: each alpha min-max normalised to [0, 1] (cv2.normalize NORM_MINMAX: all 0 when
  flat), its Gaussian-gradient magnitude (mmeval's `gauss_gradient`: a size x size
  derivative-of-Gaussian filter, size = 2 * ceil(sigma * sqrt(-2 log(sqrt(2 pi) sigma 0.01))) + 1,
  normalised to unit L2 norm, its transpose for y, correlated with replicated borders as
  cv2.filter2D), then sum over the unknown pixels of the squared difference / norm_const;
- ConnectivityError: thresholds np.arange(0, 1 + step, step); at each threshold t_i (i >= 1) the
  largest 4-connected component (cv2.connectedComponentsWithStats(connectivity=4); on a tie, the
  component cv2 labels first, the one met first in a row-major scan) of (gt >= t_i) & (pred >= t_i);
  a pixel first left out at t_i gets l = t_{i-1}, one never left out l = 1;
  phi = 1 - d * (d >= 0.15) with d = alpha - l; sum over the unknown pixels of |phi_gt - phi_pred|
  / norm_const;
- a data set's value is the plain mean of the per-image values (`average` with batch size 1).

Neither cv2 nor scipy is installed here: the filter is a torch conv2d on a replicate-padded image
(conv2d is a correlation, as filter2D), and the components come from iterated max-label
propagation over the 4 neighbours, not the scan labelling of the TypeScript side.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_matting_metrics.py

It rewrites test/reference/matting_metrics.json deterministically.
"""

import math
import os

import torch
import torch.nn.functional as F

from common import Rng, number, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_matting_metrics.py"

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------------------------------------
# The metrics, on H x W float64 tensors: alphas in 0..255, trimap in {0, 128, 255}.

def sad(pred, gt, norm_const):
    return ((pred / 255.0 - gt / 255.0).abs().sum() / norm_const).item()


def matting_mse(pred, gt, trimap):
    unknown = (trimap == 128).sum().item()
    if unknown == 0:
        return 0.0
    return (((pred / 255.0 - gt / 255.0) ** 2).sum() / unknown).item()


def gaussian(x, sigma):
    return math.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def derivative_of_gaussian_filters(sigma):
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    offsets = [k - half for k in range(2 * half + 1)]
    fx = torch.tensor([[gaussian(i, sigma) * (-j * gaussian(j, sigma) / sigma**2) for j in offsets] for i in offsets])
    fx = fx / fx.pow(2).sum().sqrt()
    return fx, fx.t().contiguous()


def min_max_normalise(a):
    lo, hi = a.min(), a.max()
    if (hi - lo).item() <= 2.220446049250313e-16:  # cv2 scales by 0 when max - min <= DBL_EPSILON
        return torch.zeros_like(a)
    scale = 1.0 / (hi - lo)
    return a * scale - lo * scale


def gaussian_gradient(a, sigma):
    fx, fy = derivative_of_gaussian_filters(sigma)
    half = fx.shape[0] // 2
    padded = F.pad(a[None, None], (half, half, half, half), mode="replicate")
    gx = F.conv2d(padded, fx[None, None])[0, 0]
    gy = F.conv2d(padded, fy[None, None])[0, 0]
    return (gx**2 + gy**2).sqrt()


def gradient_error(pred, gt, trimap, sigma, norm_const):
    g_pred = gaussian_gradient(min_max_normalise(pred / 255.0), sigma)
    g_gt = gaussian_gradient(min_max_normalise(gt / 255.0), sigma)
    return (((g_gt - g_pred) ** 2) * (trimap == 128)).sum().item() / norm_const


def largest_component(mask):
    """The largest 4-connected component of a boolean H x W mask (a boolean mask; empty when the
    mask is). Each pixel carries its row-major index + 1; a component converges to its largest."""
    h, w = mask.shape
    index = torch.arange(1, h * w + 1, dtype=torch.int64).view(h, w)
    label = torch.where(mask, index, torch.zeros_like(index))
    while True:
        padded = F.pad(label[None, None].double(), (1, 1, 1, 1))[0, 0].long()
        neighbours = torch.stack(
            [label, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
        )
        spread = torch.where(mask, neighbours.max(0).values, torch.zeros_like(label))
        if torch.equal(spread, label):
            break
        label = spread
    best, best_size, best_first = None, -1, None
    for lab in label[mask].unique().tolist():
        members = label == lab
        size = members.sum().item()
        first = index[members].min().item()
        if size > best_size or (size == best_size and first < best_first):
            best, best_size, best_first = lab, size, first
    return label == best if best is not None else torch.zeros_like(mask)


def threshold_steps(step):
    count = math.ceil((1 + step) / step)
    return [i * step for i in range(count)]


def connectivity_error(pred, gt, trimap, step, norm_const):
    p, g = pred / 255.0, gt / 255.0
    steps = threshold_steps(step)
    level = torch.full_like(g, -1.0)
    for i in range(1, len(steps)):
        omega = largest_component((g >= steps[i]) & (p >= steps[i]))
        level[(level == -1) & ~omega] = steps[i - 1]
    level[level == -1] = 1.0
    dg, dp = g - level, p - level
    phi_g = 1 - dg * (dg >= 0.15)
    phi_p = 1 - dp * (dp >= 0.15)
    return ((phi_g - phi_p).abs() * (trimap == 128)).sum().item() / norm_const


# ---------------------------------------------------------------------------------------------
# Inputs: integer alphas (MMagic's uint8), except where a case says otherwise.

def trimap_of(gt, radius):
    """Unknown (128) within `radius` pixels (Chebyshev) of a pixel with 0 < gt < 255; elsewhere 255
    where gt is 255 and 0 where gt is 0."""
    soft = ((gt > 0) & (gt < 255)).double()[None, None]
    near = F.max_pool2d(soft, 2 * radius + 1, stride=1, padding=radius)[0, 0] > 0
    known = torch.where(gt == 255, torch.full_like(gt, 255.0), torch.zeros_like(gt))
    return torch.where(near, torch.full_like(gt, 128.0), known)


def masked(pred, trimap):
    """MMagic's masking of a prediction: 0 where the trimap is 0, 255 where it is 255."""
    return torch.where(trimap == 128, pred, trimap)


def disc(h, w, cy, cx, radius, soft, per_unit=1):
    """A disc of alpha 255 with a linear edge `soft` pixels wide, rounded to 1 / per_unit."""
    y = torch.arange(h).view(-1, 1).double()
    x = torch.arange(w).view(1, -1).double()
    dist = ((y - cy) ** 2 + (x - cx) ** 2).sqrt()
    return ((radius - dist) / soft + 0.5).clamp(0, 1).mul(255 * per_unit).round() / per_unit


def noisy(rng, gt, amp):
    return (gt + rng.uniform(tuple(gt.shape), -amp, amp)).clamp(0, 255).round()


def make_case(cid, h, w, kind, options):
    rng = Rng(cid)
    if kind == "disc":
        gt = disc(h, w, h / 2 - 0.3, w / 2 + 0.2, min(h, w) / 3, 3.0)
        trimap = trimap_of(gt, 2)
        pred = masked(noisy(rng, gt, 40.0), trimap)
    elif kind == "disc-blob":
        gt = disc(h, w, h / 2, w / 2, min(h, w) / 4, 2.5)
        trimap = trimap_of(gt, 6)
        trimap[0:6, 0:7] = 128.0
        # a blob apart from the disc, in both alphas: a second component of every intersection,
        # and one more in the prediction alone
        gt[1:4, 1:5] = 200.0
        pred = noisy(rng, gt, 12.0)
        pred[1:4, 1:5] = 230.0
        pred[h - 4 : h - 1, 1:3] = 240.0
        trimap[h - 6 : h, 0:5] = 128.0
        pred = masked(pred, trimap)
    elif kind == "two-discs":
        gt = torch.maximum(disc(h, w, 7.5, 7.0, 5.0, 2.0), disc(h, w, h - 8.0, w - 7.5, 5.0, 2.0))
        trimap = trimap_of(gt, 3)
        pred = masked(noisy(rng, gt, 25.0), trimap)
    elif kind == "random":
        gt = rng.uniform((h, w), 0, 256).floor()
        pick = rng.uniform((h, w))
        trimap = torch.where(pick < 0.7, 128.0, torch.where(pick < 0.85, 0.0, 255.0))
        pred = masked(rng.uniform((h, w), 0, 256).floor(), trimap)
    elif kind == "thresholds":
        # alphas at and next to every 0.1 step: 153 / 255 = 0.6 lies just below 0.6000000000000001
        levels = torch.tensor([0, 25, 26, 51, 76, 77, 102, 127, 128, 153, 178, 179, 204, 229, 230, 255]).double()
        gt = levels[(torch.arange(h * w) * 7 % 16)].view(h, w)
        trimap = torch.full((h, w), 128.0)
        pred = levels[(torch.arange(h * w) * 5 % 16)].view(h, w)
        gt[0:6, 0:8] = 153.0  # outside the intersection at 0.6000000000000001, inside at 0.6
        pred[0:6, 0:8] = 200.0
    elif kind == "fractional":
        # quarter steps of 0..255, as a float prediction may give
        gt = disc(h, w, h / 2 + 0.4, w / 2 - 0.1, min(h, w) / 3, 5.0, per_unit=4)
        trimap = trimap_of(gt, 1)
        pred = masked((gt + rng.uniform((h, w), -30, 30)).clamp(0, 255).mul(4).round() / 4, trimap)
    elif kind == "tie":
        # two equal 3x3 squares above 0.5 in both alphas: the first one in row-major order is kept
        gt = torch.full((h, w), 100.0)
        gt[1:4, 1:4] = 200.0
        gt[h - 4 : h - 1, w - 4 : w - 1] = 200.0
        pred = gt.clone()
        pred[1:4, 1:4] = 180.0
        pred[h - 4 : h - 1, w - 4 : w - 1] = 220.0
        trimap = torch.full((h, w), 128.0)
    elif kind == "no-unknown":
        gt = disc(h, w, h / 2, w / 2, min(h, w) / 3, 1.0)
        trimap = torch.where(gt >= 128, 255.0, 0.0)
        pred = trimap.clone()
    elif kind == "flat-pred":
        gt = disc(h, w, h / 2, w / 2, min(h, w) / 3, 4.0)
        trimap = torch.full((h, w), 128.0)
        pred = torch.full((h, w), 77.0)
    else:
        raise ValueError(kind)
    assert ((trimap == 0) | (trimap == 128) | (trimap == 255)).all()
    assert torch.equal(masked(pred, trimap), pred)
    sigma = options.get("sigma", 1.4)
    step = options.get("step", 0.1)
    norm_const = options.get("norm_const", 1000)
    return {
        "id": cid,
        "type": "matting",
        "options": options,
        "shape": [h, w],
        "pred_alpha": [number(v) for v in pred.reshape(-1).tolist()],
        "gt_alpha": [number(v) for v in gt.reshape(-1).tolist()],
        "trimap": [number(v) for v in trimap.reshape(-1).tolist()],
        "SAD": number(sad(pred, gt, norm_const)),
        "MattingMSE": number(matting_mse(pred, gt, trimap)),
        "GradientError": number(gradient_error(pred, gt, trimap, sigma, norm_const)),
        "ConnectivityError": number(connectivity_error(pred, gt, trimap, step, norm_const)),
    }


CASES = [
    ("disc", 32, 32, {}),
    ("disc", 17, 23, {}),
    ("disc-blob", 32, 32, {}),
    ("disc-blob", 23, 17, {"step": 0.05}),
    ("two-discs", 32, 32, {}),
    ("two-discs", 32, 29, {"sigma": 1.0, "step": 0.2, "norm_const": 1}),
    ("random", 32, 32, {}),
    ("random", 17, 23, {"sigma": 2.0, "norm_const": 500}),
    ("thresholds", 16, 16, {}),
    ("fractional", 20, 24, {"step": 0.25}),
    ("tie", 12, 12, {}),
    ("no-unknown", 17, 23, {}),
    ("flat-pred", 17, 23, {}),
]

# Data sets averaged as MMagic's `average`: ids of cases with default options.
BATCHES = [
    ["disc/32x32", "disc-blob/32x32", "two-discs/32x32", "random/32x32"],
    ["disc/17x23", "no-unknown/17x23", "flat-pred/17x23"],
]


def case_id(kind, h, w, options):
    return f"{kind}/{h}x{w}" + "".join(f"/{k}={v}" for k, v in options.items())


def self_checks():
    fx, _ = derivative_of_gaussian_filters(1.4)
    assert fx.shape == (9, 9)  # half size ceil(3.62) = 4
    assert len(threshold_steps(0.1)) == 11 and threshold_steps(0.1)[6] == 0.6000000000000001
    m = torch.tensor([[1, 1, 0, 1], [0, 0, 0, 1], [1, 0, 1, 1]], dtype=torch.bool)
    assert largest_component(m).sum().item() == 4  # 4-connected: the diagonal does not join
    tie = torch.tensor([[1, 0, 1], [1, 0, 1]], dtype=torch.bool)
    assert largest_component(tie)[:, 0].all()
    identical = torch.tensor([[0.0, 128.0], [255.0, 40.0]])
    tri = torch.full((2, 2), 128.0)
    assert gradient_error(identical, identical, tri, 1.4, 1000) == 0.0
    assert connectivity_error(identical, identical, tri, 0.1, 1000) == 0.0


def main():
    self_checks()
    cases = [make_case(case_id(k, h, w, o), h, w, k, o) for k, h, w, o in CASES]
    by_id = {c["id"]: c for c in cases}
    metrics = ["SAD", "MattingMSE", "GradientError", "ConnectivityError"]
    batches = [
        {"ids": ids, **{m: number(sum(by_id[i][m] for i in ids) / len(ids)) for m in metrics}}
        for ids in BATCHES
    ]
    write_cases(OUT_DIR, "matting_metrics.json", GENERATOR, cases, {"batches": batches})
    for c in cases:
        print(c["id"], *(f"{m}={c[m]:.6g}" for m in metrics))


if __name__ == "__main__":
    main()
