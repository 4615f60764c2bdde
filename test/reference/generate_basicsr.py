#!/usr/bin/env python3
"""PyTorch reference values for genloss's BasicSR losses (src/losses/basicsr.ts) and GANLoss's
`wgan_softplus` type (src/losses/gan.ts).

Independent float64 formulas written from BasicSR (basicsr/losses/gan_loss.py, basic_loss.py):

- GANLoss: vanilla (BCE with logits against the label), lsgan (MSE against the label), wgan
  (-mean x / mean x), wgan_softplus (mean softplus(-x) / mean softplus(x)), hinge (disc:
  mean relu(1 -+ x); gen: -mean x); loss_weight for generator calls only.
- MultiScaleGANLoss: a list of predictions (a nested list contributes its last tensor) gives
  sum_i GANLoss(pred_i).mean() / len(list).
- GANFeatLoss: sum over discriminators i and features j (the last output, the prediction, is
  excluded) of criterion(fake[i][j], real[i][j].detach()) / num_D, times loss_weight; the criterion
  (L1Loss / MSELoss / CharbonnierLoss with eps 1e-12) is itself built with loss_weight, so the
  result carries loss_weight twice, as BasicSR's.
- WeightedTVLoss: loss_weight * (l1(pred[..., :-1], pred[..., 1:], weight[..., :-1])
  + l1(pred[:, :, :-1], pred[:, :, 1:], weight[:, :, :-1])), BasicSR's weight_reduce_loss
  (mean: sum(loss * w) / (sum(w) * C) for a 1-channel weight, sum(w) for a C-channel one).

Inputs are float32 draws (NCHW; the tests transpose them to NHWC); outputs and gradients are
float64. List-valued arguments are written as `tensors` (a flat list) and a `structure` of indices.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_basicsr.py

It rewrites test/reference/basicsr.json deterministically.
"""

import os

import torch
import torch.nn.functional as F

from common import Rng, tensor_json, write_cases
from generate import make_case

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_basicsr.py"

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------------------------------------
# BasicSR's formulas


def gan_loss(gan_type, x, target_is_real, is_disc, real_label=1.0, fake_label=0.0, loss_weight=1.0):
    label = real_label if target_is_real else fake_label
    if gan_type == "vanilla":
        t = torch.full_like(x, label)
        loss = (torch.clamp(x, min=0) - x * t + torch.log1p(torch.exp(-x.abs()))).mean()
    elif gan_type == "lsgan":
        loss = ((x - label) ** 2).mean()
    elif gan_type == "wgan":
        loss = -x.mean() if target_is_real else x.mean()
    elif gan_type == "wgan_softplus":
        loss = F.softplus(-x).mean() if target_is_real else F.softplus(x).mean()
    elif gan_type == "hinge":
        if is_disc:
            y = -x if target_is_real else x
            loss = F.relu(1 + y).mean()
        else:
            loss = -x.mean()
    else:
        raise ValueError(gan_type)
    return loss if is_disc else loss * loss_weight


def multi_scale_gan_loss(gan_type, inp, target_is_real, is_disc, **kw):
    if isinstance(inp, list):
        loss = 0
        for pred in inp:
            if isinstance(pred, list):
                pred = pred[-1]
            loss = loss + gan_loss(gan_type, pred, target_is_real, is_disc, **kw).mean()
        return loss / len(inp)
    return gan_loss(gan_type, inp, target_is_real, is_disc, **kw)


def weight_reduce(loss, weight, reduction):
    if weight is not None:
        loss = loss * weight
    if weight is None or reduction == "sum":
        return loss.mean() if reduction == "mean" else loss.sum()
    denom = weight.sum() if weight.shape[1] > 1 else weight.sum() * loss.shape[1]
    return loss.sum() / denom


def criterion(kind, a, b, reduction, weight=None):
    d = a - b
    if kind == "l1":
        e = d.abs()
    elif kind == "l2":
        e = d * d
    elif kind == "charbonnier":
        e = torch.sqrt(d * d + 1e-12)
    else:
        raise ValueError(kind)
    return weight_reduce(e, weight, reduction)


def gan_feat_loss(kind, loss_weight, reduction, fake, real):
    num_d = len(fake)
    loss = 0
    for i in range(num_d):
        for j in range(len(fake[i]) - 1):
            unweighted = loss_weight * criterion(kind, fake[i][j], real[i][j].detach(), reduction)
            loss = loss + unweighted / num_d
    return loss * loss_weight


def weighted_tv_loss(pred, weight, loss_weight, reduction):
    yw = None if weight is None else weight[:, :, :-1, :]
    xw = None if weight is None else weight[:, :, :, :-1]
    y = criterion("l1", pred[:, :, :-1, :], pred[:, :, 1:, :], reduction, yw)
    x = criterion("l1", pred[:, :, :, :-1], pred[:, :, :, 1:], reduction, xw)
    return loss_weight * (x + y)


# ---------------------------------------------------------------------------------------------
# Cases with list-valued arguments


def flatten(structure, tensors):
    """Appends the tensors of a (nested) list to `tensors`; returns the structure of indices."""
    if isinstance(structure, list):
        return [flatten(s, tensors) for s in structure]
    tensors.append(structure)
    return len(tensors) - 1


def rebuild(structure, leaves):
    if isinstance(structure, list):
        return [rebuild(s, leaves) for s in structure]
    return leaves[structure]


def list_case(cid, typ, config, call, args, fn):
    """`args`: name -> (nested list of) tensors; `call`: the non-tensor arguments. The case holds
    every tensor once in `tensors`, each argument as a structure of indices, the output and the
    gradient of the output w.r.t. every tensor (zeros where it does not depend on it)."""
    tensors = []
    structures = {name: flatten(value, tensors) for name, value in args.items()}
    leaves = [t.detach().double().clone().requires_grad_(True) for t in tensors]
    out = fn(**{name: rebuild(s, leaves) for name, s in structures.items()})
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    return {
        "id": cid,
        "type": typ,
        "config": config,
        "call": call,
        "structure": structures,
        "tensors": [tensor_json(t) for t in leaves],
        "output": tensor_json(out),
        "grads": [tensor_json(torch.zeros_like(t) if g is None else g) for t, g in zip(leaves, grads)],
    }


GAN_TYPES = ["vanilla", "lsgan", "hinge", "wgan_softplus"]


def wgan_softplus_cases():
    out = []
    for is_disc in (False, True):
        for real in (True, False):
            cid = f"GANLoss/wgan_softplus/is_disc={str(is_disc).lower()}/real={str(real).lower()}"
            rng = Rng(cid)
            x = rng.uniform((2, 1, 3, 3), -3.0, 3.0)
            cfg = {"gan_type": "wgan_softplus", "loss_weight": 0.5}
            out.append(list_case(
                cid, "GANLoss", cfg, {"target_is_real": real, "is_disc": is_disc}, {"input": x},
                lambda input, _r=real, _d=is_disc: gan_loss("wgan_softplus", input, _r, _d, loss_weight=0.5)))
    return out


def multi_scale_cases():
    out = []
    for gan_type in GAN_TYPES + ["wgan"]:
        for layout in ("tensor", "flat", "nested"):
            if gan_type == "wgan" and layout != "nested":
                continue
            for is_disc, real in ((False, True), (True, True), (True, False)):
                cid = f"MultiScaleGANLoss/{gan_type}/{layout}/is_disc={str(is_disc).lower()}/real={str(real).lower()}"
                rng = Rng(cid)
                if layout == "tensor":
                    inp = rng.uniform((2, 1, 4, 4), -2.0, 2.0)
                elif layout == "flat":
                    # three discriminators at three scales
                    inp = [rng.uniform((2, 1, s, s), -2.0, 2.0) for s in (4, 3, 2)]
                else:
                    # pix2pixHD: 2 discriminators x (3 features + prediction)
                    inp = [[rng.uniform((2, c, s, s), -2.0, 2.0) for c in (2, 3, 4)] +
                           [rng.uniform((2, 1, s, s), -2.0, 2.0)] for s in (4, 2)]
                cfg = {"gan_type": gan_type, "loss_weight": 2.0, "real_label_val": 0.9, "fake_label_val": 0.1}
                kw = {"real_label": 0.9, "fake_label": 0.1, "loss_weight": 2.0}
                out.append(list_case(
                    cid, "MultiScaleGANLoss", cfg, {"target_is_real": real, "is_disc": is_disc},
                    {"input": inp},
                    lambda input, _g=gan_type, _r=real, _d=is_disc: multi_scale_gan_loss(_g, input, _r, _d, **kw)))
    return out


def gan_feat_cases():
    out = []
    for kind in ("l1", "l2", "charbonnier"):
        for reduction, lw, layout in (("mean", 1.0, "2x3"), ("mean", 2.0, "2x3"), ("sum", 0.5, "2x3"),
                                      ("mean", 1.0, "uneven")):
            cid = f"GANFeatLoss/{kind}/{reduction}/loss_weight={lw}/{layout}"
            rng = Rng(cid)
            if layout == "2x3":
                # pix2pixHD: 2 discriminators x (3 features + prediction)
                shapes = [[(2, c, s, s) for c in (2, 3, 4)] + [(2, 1, s, s)] for s in (4, 2)]
            else:
                # 3 discriminators: 2 features, 1 feature, none (prediction only)
                shapes = [[(2, 3, 4, 4), (2, 5, 2, 2), (2, 1, 2, 2)], [(1, 2, 3, 3), (1, 1, 2, 2)],
                          [(2, 1, 2, 2)]]
            fake = [[rng.uniform(s, -1.0, 1.0) for s in d] for d in shapes]
            real = [[rng.uniform(s, -1.0, 1.0) for s in d] for d in shapes]
            # a few exact ties (the L1 kink, Charbonnier's minimum)
            real[0][0].view(-1)[::9] = fake[0][0].view(-1)[::9]
            cfg = {"criterion": kind, "loss_weight": lw, "reduction": reduction}
            out.append(list_case(
                cid, "GANFeatLoss", cfg, {}, {"pred_fake": fake, "pred_real": real},
                lambda pred_fake, pred_real, _k=kind, _w=lw, _r=reduction: gan_feat_loss(_k, _w, _r, pred_fake, pred_real)))
    return out


def weighted_tv_cases():
    out = []
    for reduction in ("mean", "sum"):
        for wk in ("none", "1-channel", "full"):
            for lw in (1.0, 0.5):
                cid = f"WeightedTVLoss/{reduction}/weight={wk}/loss_weight={lw}"
                rng = Rng(cid)
                shape = (2, 3, 5, 4)
                args = [("pred", rng.uniform(shape, -1.0, 1.0))]
                if wk == "1-channel":
                    args.append(("weight", rng.uniform((2, 1, 5, 4), 0.2, 1.5)))
                elif wk == "full":
                    args.append(("weight", rng.uniform(shape, 0.2, 1.5)))
                cfg = {"loss_weight": lw, "reduction": reduction}
                out.append(make_case(
                    cid, "WeightedTVLoss", cfg, args,
                    lambda pred, weight=None, _r=reduction, _w=lw: weighted_tv_loss(pred, weight, _w, _r),
                    ["pred", "weight"], rng))
    return out


def check_identities():
    x = torch.linspace(-4.0, 4.0, 41)
    # wgan_softplus = vanilla with labels 1 / 0
    assert torch.allclose(gan_loss("wgan_softplus", x, True, True), gan_loss("vanilla", x, True, True))
    assert torch.allclose(gan_loss("wgan_softplus", x, False, True), gan_loss("vanilla", x, False, True))
    # one discriminator in a list is the plain loss
    assert torch.allclose(multi_scale_gan_loss("lsgan", [x], True, False), gan_loss("lsgan", x, True, False))
    assert torch.allclose(multi_scale_gan_loss("lsgan", [[x * 0, x]], True, False), gan_loss("lsgan", x, True, False))
    # identical features match at 0 (L1, L2)
    f = [[x.view(1, 1, 41, 1), x.view(1, 1, 41, 1)]]
    assert float(gan_feat_loss("l1", 3.0, "mean", f, f)) == 0.0
    # loss_weight counts twice
    g = [[(x + 1).view(1, 1, 41, 1), x.view(1, 1, 41, 1)]]
    assert torch.allclose(gan_feat_loss("l1", 3.0, "mean", g, f), 9.0 * gan_feat_loss("l1", 1.0, "mean", g, f))
    # a constant image has no total variation
    assert float(weighted_tv_loss(torch.ones(1, 2, 3, 3), None, 1.0, "mean")) == 0.0
    print("basicsr identities: OK")


def main():
    torch.manual_seed(0)
    check_identities()
    cases = wgan_softplus_cases() + multi_scale_cases() + gan_feat_cases() + weighted_tv_cases()
    write_cases(OUT_DIR, "basicsr.json", GENERATOR, cases)


if __name__ == "__main__":
    main()
