#!/usr/bin/env python3
"""PyTorch reference values for genloss's robust losses (src/losses/robust.ts).

Independent float64 formulas: kornia's cauchy_loss, welsch_loss and geman_mcclure_loss (written
out here: `log(0.5 x^2 + 1)`, `1 - exp(-0.5 x^2)`, `2 x^2 / (x^2 + 4)`), PyTorch's own
F.huber_loss and F.smooth_l1_loss (reduction "none"), and Barron's general robust loss with a
fixed alpha and scale (its formula with pow, the limits at alpha = 0 and 2), each masked and
reduced by MMagic's mask_reduce_loss (generate.py's `mask_reduce`). Inputs are NCHW float32
draws (the tests transpose them to NHWC); outputs and gradients w.r.t. pred, target and weight
are float64.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_robust.py

It rewrites test/reference/robust.json deterministically.
"""

import math
import os

import torch
import torch.nn.functional as F

from common import Rng, write_cases
from generate import make_case, mask_reduce

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_robust.py"

N, C, H, W = 2, 3, 3, 3
THRESHOLDS = [0.5, 1.0]  # the Huber deltas and SmoothL1 betas of the cases

torch.set_default_dtype(torch.float64)


def barron(x, alpha, scale):
    """Barron's rho(x, alpha, c) with fixed alpha (finite) and c."""
    z = (x / scale) ** 2
    if alpha == 2:
        return 0.5 * z
    if alpha == 0:
        return torch.log(0.5 * z + 1.0)
    b = abs(alpha - 2.0)
    return b / alpha * (torch.pow(z / b + 1.0, alpha / 2.0) - 1.0)


def elementwise(typ, cfg, pred, target):
    x = pred - target
    if typ == "CauchyLoss":
        return torch.log(0.5 * x ** 2 + 1.0)
    if typ == "WelschLoss":
        return 1.0 - torch.exp(-0.5 * x ** 2)
    if typ == "GemanMcClureLoss":
        return 2.0 * x ** 2 / (x ** 2 + 4.0)
    if typ == "HuberLoss":
        return F.huber_loss(pred, target, reduction="none", delta=cfg.get("delta", 1.0))
    if typ == "SmoothL1Loss":
        beta = cfg.get("beta", 1.0)
        if beta == 0:
            # beta = 0 is the L1 loss. Written as |x| so that the gradient at a tie is 0 (torch's
            # sign(0), as l1_loss): torch 1.13's smooth_l1 backward gives -1 there for beta = 0.
            return x.abs()
        return F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    if typ == "GeneralRobustLoss":
        return barron(x, cfg.get("alpha", 1.0), cfg.get("scale", 1.0))
    raise ValueError(typ)


def robust_loss(typ, cfg, pred, target, weight=None):
    e = elementwise(typ, cfg, pred, target)
    red = mask_reduce(e, weight, cfg.get("reduction", "mean"), cfg.get("sample_wise", False))
    return cfg.get("loss_weight", 1.0) * red


# Each loss and its own keys.
VARIANTS = [
    ("CauchyLoss", {}),
    ("WelschLoss", {}),
    ("GemanMcClureLoss", {}),
    ("HuberLoss", {"delta": 1.0}),
    ("HuberLoss", {"delta": 0.5}),
    ("SmoothL1Loss", {"beta": 1.0}),
    ("SmoothL1Loss", {"beta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.0}),
    ("GeneralRobustLoss", {"alpha": -2.0, "scale": 1.0}),
    ("GeneralRobustLoss", {"alpha": 0.0, "scale": 1.0}),
    ("GeneralRobustLoss", {"alpha": 1.0, "scale": 1.0}),
    ("GeneralRobustLoss", {"alpha": 2.0, "scale": 1.0}),
    ("GeneralRobustLoss", {"alpha": 4.0, "scale": 1.0}),
    ("GeneralRobustLoss", {"alpha": 1.0, "scale": 0.5}),
    ("GeneralRobustLoss", {"alpha": -2.0, "scale": 2.0}),
]

# (reduction, weight kind, sample_wise)
SETTINGS = [
    ("mean", "none", False),
    ("mean", "mask", False),
    ("mean", "mask", True),
    ("mean", "full", True),
    ("sum", "full", False),
    ("none", "mask", False),
]


def inputs(rng):
    """pred in [-1, 1); target = pred - d with |d| in [0.05, 2.5) (both sides of every threshold,
    at least 0.02 away from each after float32 rounding) and d = 0 exactly at every 7th element."""
    shape = (N, C, H, W)
    pred = rng.uniform(shape, -1.0, 1.0)
    mag = rng.uniform(shape, 0.05, 2.5)
    for thr in THRESHOLDS:
        near = (mag - thr).abs() < 0.02
        mag = torch.where(near, mag + 0.05, mag)
    sign = torch.where(rng.uniform(shape) < 0.5, -1.0, 1.0)
    target = (pred - sign * mag).float().double()
    target.view(-1)[::7] = pred.view(-1)[::7]
    d = (pred - target).abs()
    for thr in THRESHOLDS:
        assert ((d - thr).abs() > 0.01).all()
    return pred, target


def cases():
    out = []
    i = 0
    for typ, own in VARIANTS:
        for red, wk, sw in SETTINGS:
            lw = 0.5 if i % 3 == 2 else 1.0
            i += 1
            cfg = {"loss_weight": lw, "reduction": red, "sample_wise": sw, **own}
            keys = "".join(f"/{k}={v}" for k, v in own.items())
            cid = f"{typ}{keys}/{red}/weight={wk}/sample_wise={str(sw).lower()}/loss_weight={lw}"
            rng = Rng(cid)
            pred, target = inputs(rng)
            args = [("pred", pred), ("target", target)]
            if wk == "mask":
                args.append(("weight", rng.mask((N, 1, H, W))))
            elif wk == "full":
                args.append(("weight", rng.weight((N, C, H, W))))
            out.append(make_case(
                cid, typ, cfg, args,
                lambda pred, target, weight=None, _t=typ, _c=cfg: robust_loss(_t, _c, pred, target, weight),
                ["pred", "target", "weight"], rng))
    return out


def close(a, b, rel=1e-9, abs_=1e-12):
    return abs(float(a) - float(b)) <= abs_ + rel * abs(float(b))


def check_identities():
    """The limits and special cases the robust losses are documented with."""
    x = torch.linspace(-3.0, 3.0, 61)
    zero = torch.zeros_like(x)
    # Barron: alpha near 0 and 2 approaches the exact limits; alpha = -2 is Geman-McClure,
    # alpha = 0 Cauchy, large negative alpha Welsch.
    assert torch.allclose(barron(x, 1e-7, 1.0), barron(x, 0.0, 1.0), atol=1e-6)
    assert torch.allclose(barron(x, 2.0 + 1e-7, 1.0), barron(x, 2.0, 1.0), atol=1e-6)
    assert torch.allclose(barron(x, -2.0, 1.0), elementwise("GemanMcClureLoss", {}, x, zero))
    assert torch.allclose(barron(x, 0.0, 1.0), elementwise("CauchyLoss", {}, x, zero))
    assert torch.allclose(barron(x, -1e7, 1.0), elementwise("WelschLoss", {}, x, zero), atol=1e-5)
    assert torch.allclose(barron(x, 1.0, 1.0), torch.sqrt(x ** 2 + 1.0) - 1.0)
    # Huber(delta) = delta * SmoothL1(beta = delta); SmoothL1(beta = 0) is L1.
    for d in THRESHOLDS:
        assert torch.allclose(elementwise("HuberLoss", {"delta": d}, x, zero),
                              d * elementwise("SmoothL1Loss", {"beta": d}, x, zero))
    assert torch.allclose(elementwise("SmoothL1Loss", {"beta": 0.0}, x, zero), x.abs())
    assert close(elementwise("HuberLoss", {"delta": 1.0}, torch.tensor([3.0]), torch.tensor([0.0])), 2.5)
    assert close(barron(torch.tensor([3.0]), 4.0, 1.0), 0.5 * ((9.0 / 2.0 + 1.0) ** 2 - 1.0))
    assert math.isclose(float(barron(torch.tensor([1.0]), 1.0, 0.5)), math.sqrt(5.0) - 1.0)
    print("robust identities: OK")


def main():
    torch.manual_seed(0)
    check_identities()
    write_cases(OUT_DIR, "robust.json", GENERATOR, cases())


if __name__ == "__main__":
    main()
