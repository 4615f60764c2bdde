#!/usr/bin/env python3
"""PyTorch reference values for genloss: pixel-wise, composition and gradient losses.

Independent float64 re-implementation (not MMagic code) of MMagic's
mmagic/models/losses/loss_wrapper.py (reduce_loss, mask_reduce_loss), pixelwise_loss.py,
composition_loss.py and gradient_loss.py. Inputs are drawn in float32 (so every value is
exactly representable in both float32 and float64), the losses and gradients are
computed in float64.

Run from the repository root:

    /usr/bin/python3 test/reference/generate.py

It rewrites test/reference/{pixelwise,composition,gradient}.json deterministically,
then checks MMagic's own unit-test numbers (tests/test_models/test_losses/
test_pixelwise_loss.py, test_composition_loss.py, test_gradient_loss.py).
"""

import math
import os

import torch
import torch.nn.functional as F

from common import Rng, tensor_json, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate.py"
EPS_REDUCE = 1e-12  # mask_reduce_loss denominator epsilon

N, C, H, W = 2, 3, 4, 5
CH, CW = 3, 4  # composition cases (kept smaller: 4 inputs + 3 grads each)

torch.set_default_dtype(torch.float64)

# ---------------------------------------------------------------------------
# Formulas (MMagic's loss_wrapper, pixelwise, composition and gradient losses), float64.
# ---------------------------------------------------------------------------


def reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction)


def mask_reduce(loss, weight=None, reduction="mean", sample_wise=False):
    """MMagic's mask_reduce_loss (mmagic/models/losses/loss_wrapper.py)."""
    if weight is None:
        return reduce(loss, reduction)
    assert weight.dim() == loss.dim()
    assert weight.shape[1] in (1, loss.shape[1])
    weighted = loss * weight
    if reduction != "mean":
        # 'none' -> weighted element-wise tensor, 'sum' -> sum of loss * weight
        return reduce(weighted, reduction)
    # the denominator counts a 1-channel weight once per channel
    w_full = weight.expand_as(loss)
    if not sample_wise:
        return weighted.sum() / (w_full.sum() + EPS_REDUCE)
    dims = list(range(1, loss.dim()))
    per_sample = weighted.sum(dim=dims) / (w_full.sum(dim=dims) + EPS_REDUCE)
    # empty samples contribute 0 but still count in N
    return per_sample.sum() / loss.shape[0]


def elementwise(kind, pred, target, eps=1e-12):
    d = pred - target
    if kind == "l1":
        return d.abs()  # torch: d|x|/dx at 0 is 0
    if kind == "mse":
        return d * d
    if kind == "charbonnier":
        return torch.sqrt(d * d + eps)
    raise ValueError(kind)


PIXEL_KIND = {"L1Loss": "l1", "MSELoss": "mse", "CharbonnierLoss": "charbonnier"}
COMP_KIND = {"L1CompositionLoss": "l1", "MSECompositionLoss": "mse", "CharbonnierCompLoss": "charbonnier"}


def pixelwise_loss(typ, cfg, pred, target, weight=None):
    """L1Loss / MSELoss / CharbonnierLoss forward."""
    e = elementwise(PIXEL_KIND[typ], pred, target, cfg.get("eps", 1e-12))
    red = mask_reduce(e, weight, cfg.get("reduction", "mean"), cfg.get("sample_wise", False))
    return cfg.get("loss_weight", 1.0) * red


def masked_tv_loss(cfg, pred, mask):
    """MaskedTVLoss: L1 masked mean of vertical and horizontal neighbour diffs, cropped mask."""
    lw = cfg.get("loss_weight", 1.0)
    dy = (pred[:, :, :-1, :] - pred[:, :, 1:, :]).abs()
    dx = (pred[:, :, :, :-1] - pred[:, :, :, 1:]).abs()
    y = lw * mask_reduce(dy, mask[:, :, :-1, :], "mean", False)
    x = lw * mask_reduce(dx, mask[:, :, :, :-1], "mean", False)
    return x + y


def tv_loss(x):
    """Disco Diffusion tv_loss: replicate-pad bottom/right, per-sample mean, shape (N,)."""
    p = torch.cat([x, x[:, :, -1:, :]], dim=2)
    p = torch.cat([p, p[:, :, :, -1:]], dim=3)
    dx = p[:, :, :-1, 1:] - p[:, :, :-1, :-1]
    dy = p[:, :, 1:, :-1] - p[:, :, :-1, :-1]
    return (dx * dx + dy * dy).mean(dim=(1, 2, 3))


def psnr_loss(cfg, pred, target):
    assert pred.dim() == 4
    mse = ((pred - target) ** 2).mean(dim=(1, 2, 3))
    return cfg.get("loss_weight", 1.0) * (10.0 / math.log(10.0)) * torch.log(mse + 1e-8).mean()


def composition_loss(typ, cfg, pred_alpha, fg, bg, ori_merged, weight=None):
    merged = pred_alpha * fg + (1.0 - pred_alpha) * bg
    if weight is not None:
        weight = weight.expand(-1, 3, -1, -1)
    e = elementwise(COMP_KIND[typ], merged, ori_merged, cfg.get("eps", 1e-12))
    red = mask_reduce(e, weight, cfg.get("reduction", "mean"), cfg.get("sample_wise", False))
    return cfg.get("loss_weight", 1.0) * red


SOBEL_X = [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]
SOBEL_Y = [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]


def sobel(x, k):
    """Cross-correlation with a 3x3 kernel, zero padding 1, applied to each channel."""
    c = x.shape[1]
    kern = torch.tensor(k, dtype=x.dtype).view(1, 1, 3, 3).repeat(c, 1, 1, 1)
    return F.conv2d(x, kern, padding=1, groups=c)


def gradient_loss(cfg, pred, target, weight=None):
    """GradientLoss; C=1 is MMagic, C>1 is genloss's per-channel extension."""
    red = cfg.get("reduction", "mean")
    gx = (sobel(pred, SOBEL_X) - sobel(target, SOBEL_X)).abs()
    gy = (sobel(pred, SOBEL_Y) - sobel(target, SOBEL_Y)).abs()
    return cfg.get("loss_weight", 1.0) * (mask_reduce(gx, weight, red) + mask_reduce(gy, weight, red))


# ---------------------------------------------------------------------------
# Case assembly
# ---------------------------------------------------------------------------


def make_case(case_id, typ, config, args, fn, grad_names, rng, penalty_grads=()):
    """args: list of (name, tensor); fn(**kwargs) -> output. `grad_names`: the arguments to
    differentiate w.r.t. (those absent from `args`, such as a weight a case has not, are skipped).
    `penalty_grads`: second order, the gradient of Σ (∂loss/∂pred)² w.r.t. these arguments."""
    present = [name for name, _ in args]
    grad_names = [n for n in grad_names if n in present]
    penalty_grads = [n for n in penalty_grads if n in present]
    leaves = {}
    kwargs = {}
    for name, t in args:
        t = t.detach().double().clone()
        if name in grad_names or name in penalty_grads:
            t.requires_grad_(True)
            leaves[name] = t
        kwargs[name] = t
    out = fn(**kwargs)
    case = {
        "id": case_id,
        "type": typ,
        "config": config,
        "args": [{"name": name, "tensor": tensor_json(kwargs[name])} for name, _ in args],
        "output": tensor_json(out),
    }
    if out.dim() == 0:
        target = out
    else:
        cot = rng.normal(tuple(out.shape))
        case["cotangent"] = tensor_json(cot)
        target = (out * cot).sum()
    case["grads"] = grads_json(target, leaves, grad_names, create_graph=bool(penalty_grads))
    if penalty_grads:
        (g,) = torch.autograd.grad(target, [leaves["pred"]], create_graph=True)
        case["grads2"] = grads_json((g * g).sum(), leaves, penalty_grads)
    return case


def grads_json(y, leaves, names, create_graph=False):
    """The gradients of the scalar `y` w.r.t. `leaves[n]` for n in `names` (zeros where unused)."""
    grads = torch.autograd.grad(y, [leaves[n] for n in names], allow_unused=True,
                                retain_graph=create_graph, create_graph=create_graph)
    # None (unused) and torch's storage-less zero tensors (the second order of |x|) as zeros
    return {n: tensor_json(torch.zeros_like(leaves[n]) if g is None or g._is_zerotensor() else g)
            for n, g in zip(names, grads)}


REDUCTIONS = ["none", "mean", "sum"]


def tied_pixelwise_case(cid, typ, cfg, wk, step):
    """A pixelwise case whose target equals pred at every `step`-th element (exact ties), with no
    weight (wk "none"), a 0/1 mask (N x 1 x H x W) or full positive weights (N x C x H x W)."""
    shape = (N, C, H, W)
    rng = Rng(cid)
    pred = rng.uniform(shape)
    target = rng.uniform(shape)
    target.view(-1)[::step] = pred.view(-1)[::step]
    args = [("pred", pred), ("target", target)]
    if wk == "mask":
        args.append(("weight", rng.mask((N, 1, H, W))))
    elif wk == "full":
        args.append(("weight", rng.weight(shape)))
    return make_case(cid, typ, cfg, args,
                     lambda pred, target, weight=None: pixelwise_loss(typ, cfg, pred, target, weight),
                     ["pred", "target", "weight"], rng)


def pixelwise_cases():
    cases = []
    shape = (N, C, H, W)
    mshape = (N, 1, H, W)
    i = 0
    for typ in ["L1Loss", "MSELoss", "CharbonnierLoss"]:
        for red in REDUCTIONS:
            for wk in ["none", "mask", "full"]:
                for sw in [False, True]:
                    lw = 0.5 if i % 3 == 2 else 1.0
                    i += 1
                    cfg = {"loss_weight": lw, "reduction": red, "sample_wise": sw}
                    if typ == "CharbonnierLoss":
                        cfg["eps"] = 1e-12
                    # sample_wise + mask: empty sample 1 (exercises "empty sample counts in N")
                    empty = 1 if (wk == "mask" and sw) else None
                    cid = f"{typ}/{red}/weight={wk}{'-empty1' if empty is not None else ''}" \
                          f"/sample_wise={str(sw).lower()}/loss_weight={lw}"
                    rng = Rng(cid)
                    args = [("pred", rng.uniform(shape)), ("target", rng.uniform(shape))]
                    if wk == "mask":
                        args.append(("weight", rng.mask(mshape, empty)))
                    elif wk == "full":
                        args.append(("weight", rng.weight(shape)))
                    cases.append(make_case(
                        cid, typ, cfg, args,
                        lambda pred, target, weight=None, _t=typ, _c=cfg: pixelwise_loss(_t, _c, pred, target, weight),
                        ["pred", "target", "weight"], rng))

    # sample_wise mask case where both samples are non-empty
    for typ in ["L1Loss", "MSELoss"]:
        cfg = {"loss_weight": 1.0, "reduction": "mean", "sample_wise": True}
        cid = f"{typ}/mean/weight=mask/sample_wise=true/loss_weight=1.0"
        rng = Rng(cid)
        args = [("pred", rng.uniform(shape)), ("target", rng.uniform(shape)), ("weight", rng.mask(mshape))]
        cases.append(make_case(cid, typ, cfg, args,
                               lambda pred, target, weight, _t=typ, _c=cfg: pixelwise_loss(_t, _c, pred, target, weight),
                               ["pred", "target", "weight"], rng))

    # all-zero mask: 0/(0+eps) = 0, zero gradients w.r.t. pred and target, never NaN
    for sw in [False, True]:
        cfg = {"loss_weight": 1.0, "reduction": "mean", "sample_wise": sw}
        cid = f"L1Loss/mean/weight=mask-allzero/sample_wise={str(sw).lower()}/loss_weight=1.0"
        rng = Rng(cid)
        args = [("pred", rng.uniform(shape)), ("target", rng.uniform(shape)),
                ("weight", torch.zeros(mshape))]
        cases.append(make_case(cid, "L1Loss", cfg, args,
                               lambda pred, target, weight, _c=cfg: pixelwise_loss("L1Loss", _c, pred, target, weight),
                               ["pred", "target", "weight"], rng))

    # Charbonnier with eps 1e-3
    for red, wk, sw, lw in [("mean", "none", False, 1.0), ("mean", "mask", True, 0.5),
                            ("sum", "full", False, 1.0), ("none", "mask", False, 0.5),
                            ("mean", "full", True, 1.0)]:
        cfg = {"loss_weight": lw, "reduction": red, "sample_wise": sw, "eps": 1e-3}
        cid = f"CharbonnierLoss/{red}/weight={wk}/sample_wise={str(sw).lower()}/loss_weight={lw}/eps=0.001"
        # a few exact matches: gradient there is exactly 0
        cases.append(tied_pixelwise_case(cid, "CharbonnierLoss", cfg, wk, 7))

    # L1 with exact ties pred == target (|x|' at 0 is 0)
    for red, wk, lw in [("mean", "none", 1.0), ("none", "full", 0.5), ("sum", "mask", 1.0)]:
        cfg = {"loss_weight": lw, "reduction": red, "sample_wise": False}
        cid = f"L1Loss/{red}/weight={wk}/sample_wise=false/loss_weight={lw}/ties"
        cases.append(tied_pixelwise_case(cid, "L1Loss", cfg, wk, 3))

    # MaskedTVLoss
    for lw, ties in [(1.0, False), (0.5, False), (1.0, True)]:
        cfg = {"loss_weight": lw}
        cid = f"MaskedTVLoss/loss_weight={lw}{'/ties' if ties else ''}"
        rng = Rng(cid)
        pred = rng.uniform(shape)
        if ties:
            pred[:, :, 2, :] = pred[:, :, 1, :]  # vertical ties
            pred[:, :, :, 3] = pred[:, :, :, 2]  # horizontal ties
        args = [("pred", pred), ("mask", rng.mask(mshape))]
        cases.append(make_case(cid, "MaskedTVLoss", cfg, args,
                               lambda pred, mask, _c=cfg: masked_tv_loss(_c, pred, mask),
                               ["pred", "mask"], rng))

    # tv_loss (plain function, output (N,))
    for k, shp in enumerate([shape, (N, 1, H, W)]):
        cid = f"tv_loss/C={shp[1]}"
        rng = Rng(cid)
        args = [("x", rng.uniform(shp, -1.0, 1.0))]
        cases.append(make_case(cid, "tv_loss", {}, args, lambda x: tv_loss(x), ["x"], rng))

    # PSNRLoss
    for lw, close in [(1.0, False), (0.5, False), (1.0, True)]:
        cfg = {"loss_weight": lw}
        cid = f"PSNRLoss/loss_weight={lw}{'/close' if close else ''}"
        rng = Rng(cid)
        pred = rng.uniform(shape)
        if close:
            target = (pred + rng.uniform(shape, -1e-3, 1e-3)).float().double()
        else:
            target = rng.uniform(shape)
        args = [("pred", pred), ("target", target)]
        cases.append(make_case(cid, "PSNRLoss", cfg, args,
                               lambda pred, target, _c=cfg: psnr_loss(_c, pred, target),
                               ["pred", "target"], rng))
    return cases


def composition_cases():
    cases = []
    i = 0
    for typ in ["L1CompositionLoss", "MSECompositionLoss", "CharbonnierCompLoss"]:
        for red in REDUCTIONS:
            for wk in ["none", "mask"]:
                for sw in [False, True]:
                    lw = 0.5 if i % 3 == 1 else 1.0
                    i += 1
                    cfg = {"loss_weight": lw, "reduction": red, "sample_wise": sw}
                    if typ == "CharbonnierCompLoss":
                        cfg["eps"] = 1e-12
                    empty = 1 if (wk == "mask" and sw and typ != "MSECompositionLoss") else None
                    cid = f"{typ}/{red}/weight={wk}{'-empty1' if empty is not None else ''}" \
                          f"/sample_wise={str(sw).lower()}/loss_weight={lw}"
                    cases.append(comp_case(cid, typ, cfg, wk, empty))
    # Charbonnier with eps 1e-3
    for red, wk, sw in [("mean", "mask", False), ("none", "none", False)]:
        cfg = {"loss_weight": 1.0, "reduction": red, "sample_wise": sw, "eps": 1e-3}
        cid = f"CharbonnierCompLoss/{red}/weight={wk}/sample_wise={str(sw).lower()}/loss_weight=1.0/eps=0.001"
        cases.append(comp_case(cid, "CharbonnierCompLoss", cfg, wk, None))
    return cases


def comp_case(cid, typ, cfg, wk, empty):
    rng = Rng(cid)
    H, W = CH, CW
    args = [
        ("pred_alpha", rng.uniform((N, 1, H, W), 0.02, 0.98)),
        ("fg", rng.uniform((N, 3, H, W))),
        ("bg", rng.uniform((N, 3, H, W))),
        ("ori_merged", rng.uniform((N, 3, H, W))),
    ]
    if wk == "mask":
        args.append(("weight", rng.mask((N, 1, H, W), empty)))
    return make_case(
        cid, typ, cfg, args,
        lambda pred_alpha, fg, bg, ori_merged, weight=None: composition_loss(typ, cfg, pred_alpha, fg, bg, ori_merged, weight),
        ["pred_alpha", "fg", "bg", "weight"], rng)


def gradient_cases():
    cases = []
    i = 0
    for red in REDUCTIONS:
        for wk in ["none", "mask"]:
            for lw in [1.0, 0.5]:
                cfg = {"loss_weight": lw, "reduction": red}
                cid = f"GradientLoss/C=1/{red}/weight={wk}/loss_weight={lw}"
                cases.append(grad_case(cid, cfg, 1, wk))
                i += 1
    # genloss extension: C=3, per-channel Sobel (groups=C)
    for red in REDUCTIONS:
        for wk in ["none", "mask", "full"]:
            lw = 0.5 if wk == "full" else 1.0
            cfg = {"loss_weight": lw, "reduction": red}
            cid = f"GradientLoss/C=3/{red}/weight={wk}/loss_weight={lw}"
            cases.append(grad_case(cid, cfg, 3, wk))
    return cases


def grad_case(cid, cfg, c, wk):
    rng = Rng(cid)
    args = [("pred", rng.uniform((N, c, H, W))), ("target", rng.uniform((N, c, H, W)))]
    if wk == "mask":
        args.append(("weight", rng.mask((N, 1, H, W))))
    elif wk == "full":
        args.append(("weight", rng.weight((N, c, H, W))))
    return make_case(cid, "GradientLoss", cfg, args,
                     lambda pred, target, weight=None: gradient_loss(cfg, pred, target, weight),
                     ["pred", "weight"], rng)


# ---------------------------------------------------------------------------
# Second order: the gradient of the penalty Σ (∂loss/∂pred)² w.r.t. pred, target and weight,
# as when a loss sits inside a gradient penalty. Masks with one pixel per sample, or with
# unequal sizes per sample, make the denominators C′·Σw + ε (per sample for sample_wise) matter.
# ---------------------------------------------------------------------------

SO_H, SO_W = 3, 4  # pixel-wise second-order cases (kept smaller: 3 inputs, 3 + 3 grads each)
SIZES = [1, 5]  # mask pixels per sample of the "sizes-1-5" masks
PENALTY_GRADS = ["pred", "target", "weight"]


def penalty_weight(rng, wk, shape):
    """No weight, a 0/1 N×1×H×W mask with one pixel per sample or SIZES pixels, or full weights."""
    mshape = (shape[0], 1) + tuple(shape[2:])
    if wk == "none":
        return None
    if wk == "onepixel":
        return rng.sized_mask(mshape, [1] * shape[0])
    if wk == "sizes-1-5":
        return rng.sized_mask(mshape, SIZES)
    if wk == "full":
        return rng.weight(shape)
    raise ValueError(wk)


def penalty_case(cid, typ, cfg, wk, shape, fn, pred, target, rng):
    args = [("pred", pred), ("target", target)]
    weight = penalty_weight(rng, wk, shape)
    if weight is not None:
        args.append(("weight", weight))
    return make_case(cid, typ, cfg, args, fn, PENALTY_GRADS, rng, PENALTY_GRADS)


def pixelwise_second_order_cases():
    cases = []
    # (reduction, sample_wise, weight kind, C, loss_weight)
    layouts = [("mean", False, "onepixel", 1, 1.0), ("mean", True, "onepixel", 3, 0.5),
               ("mean", True, "sizes-1-5", 3, 1.0), ("mean", False, "sizes-1-5", 1, 0.5),
               ("mean", True, "full", 3, 1.0), ("sum", False, "sizes-1-5", 3, 0.5),
               ("mean", False, "none", 3, 1.0), ("none", False, "sizes-1-5", 3, 1.0)]
    # Charbonnier with a small eps and |pred − target| ≲ 3·sqrt(eps), where the second derivative
    # eps / (d² + eps)^1.5 depends on eps
    small_eps = [(1e-4, "mean", True, "sizes-1-5", 3, 1.0), (1e-4, "mean", False, "onepixel", 1, 0.5),
                 (1e-4, "sum", False, "full", 3, 1.0), (1e-4, "mean", False, "none", 3, 1.0),
                 (1e-4, "none", False, "sizes-1-5", 3, 0.5), (1e-6, "mean", True, "sizes-1-5", 3, 1.0),
                 (1e-6, "sum", False, "full", 3, 0.5)]
    plan = [(typ, None) + layout for typ in PIXEL_KIND for layout in layouts]
    plan += [("CharbonnierLoss",) + case for case in small_eps]
    for typ, eps, red, sw, wk, c, lw in plan:
        cfg = {"loss_weight": lw, "reduction": red, "sample_wise": sw}
        if typ == "CharbonnierLoss":
            cfg["eps"] = 1e-12 if eps is None else eps
        cid = f"{typ}/{red}/weight={wk}/sample_wise={str(sw).lower()}/loss_weight={lw}/C={c}" \
              f"{'' if eps is None else f'/eps={eps}'}/second-order"
        shape = (N, c, SO_H, SO_W)
        rng = Rng(cid)
        pred = rng.uniform(shape)
        if eps is None:
            target = rng.uniform(shape)
        else:
            spread = 3.0 * math.sqrt(eps)
            target = (pred + rng.uniform(shape, -spread, spread)).float().double()
        cases.append(penalty_case(
            cid, typ, cfg, wk, shape,
            lambda pred, target, weight=None, _t=typ, _c=cfg: pixelwise_loss(_t, _c, pred, target, weight),
            pred, target, rng))
    return cases


def gradient_second_order_cases():
    """GradientLoss is piecewise linear in pred: its second order w.r.t. pred and target is 0, and
    w.r.t. the weight it is not."""
    cases = []
    for c, red, wk, lw in [(1, "mean", "onepixel", 1.0), (1, "mean", "sizes-1-5", 0.5),
                           (1, "sum", "sizes-1-5", 1.0), (1, "mean", "none", 1.0),
                           (1, "none", "sizes-1-5", 1.0), (3, "mean", "full", 0.5),
                           (3, "mean", "onepixel", 1.0), (3, "sum", "full", 1.0)]:
        cfg = {"loss_weight": lw, "reduction": red}
        cid = f"GradientLoss/C={c}/{red}/weight={wk}/loss_weight={lw}/second-order"
        shape = (N, c, H, W)
        rng = Rng(cid)
        cases.append(penalty_case(
            cid, "GradientLoss", cfg, wk, shape,
            lambda pred, target, weight=None, _c=cfg: gradient_loss(_c, pred, target, weight),
            rng.uniform(shape), rng.uniform(shape), rng))
    return cases


# ---------------------------------------------------------------------------
# MMagic's own unit-test numbers (tests/test_models/test_losses/test_{pixelwise,composition,
# gradient}_loss.py)
# ---------------------------------------------------------------------------


def close(a, b, rel=1e-6, abs_=1e-9):
    a = float(a)
    return abs(a - b) <= max(abs_, rel * abs(b))


def check_mmagic_unit_tests():
    weight = torch.zeros(1, 1, 64, 64)
    weight[0, 0, :32, :32] = 1.0
    pred = weight.clone()
    target = 2.0 * weight

    # pixel-wise
    for typ in ["L1Loss", "MSELoss"]:
        assert close(pixelwise_loss(typ, {}, pred, target), 0.25)
        out = pixelwise_loss(typ, {"loss_weight": 0.5, "reduction": "none"}, pred, target, weight)
        assert torch.equal(out, weight * 0.5)
        assert close(pixelwise_loss(typ, {"loss_weight": 0.5, "reduction": "sum"}, pred, target, weight), 512.0)
    assert close(pixelwise_loss("CharbonnierLoss", {}, pred, target), 0.25, rel=1e-5)
    out = pixelwise_loss("CharbonnierLoss", {"loss_weight": 0.5, "reduction": "none", "eps": 1e-6}, pred, target, weight)
    assert torch.allclose(out, weight * 0.5, rtol=0, atol=1e-6)
    assert close(pixelwise_loss("CharbonnierLoss", {"loss_weight": 0.5, "reduction": "sum"}, pred, target, weight), 512.0)

    # sample-wise: only sample 0 masked, target0 = 2 * pred0
    w2 = torch.zeros(2, 1, 64, 64)
    w2[0, 0, :32, :32] = 1.0
    p2 = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float32).double()
    t2 = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float32).double()
    p2[0] = w2[0]
    t2[0] = 2.0 * w2[0]
    assert close(pixelwise_loss("L1Loss", {"sample_wise": True}, p2, t2, w2), 0.5)

    # MaskedTVLoss
    tvp = torch.zeros(1, 1, 6, 6)
    tvp[0, 0, 3, :] = 1.0
    tvm = torch.zeros(1, 1, 6, 6)
    tvm[0, 0, 2:4, 2:4] = 1.0
    assert close(masked_tv_loss({}, tvp, tvm), 1.0)

    # PSNRLoss
    assert close(psnr_loss({}, torch.ones(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)), 0.0, abs_=1e-6)
    assert close(psnr_loss({}, torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)), -80.0)

    # composition
    alpha = 0.5 * weight
    ori = torch.ones(1, 3, 64, 64)
    fg = torch.zeros(1, 3, 64, 64)
    bg = 4.0 * torch.ones(1, 3, 64, 64)
    w3 = weight.expand(-1, 3, -1, -1)
    for typ, mean in [("L1CompositionLoss", 2.5), ("MSECompositionLoss", 7.0), ("CharbonnierCompLoss", 2.5)]:
        assert close(composition_loss(typ, {}, alpha, fg, bg, ori), mean, rel=1e-6)
        cfg = {"loss_weight": 0.5, "reduction": "none"}
        if typ == "CharbonnierCompLoss":
            cfg["eps"] = 1e-6
        out = composition_loss(typ, cfg, alpha, fg, bg, ori, weight)
        assert out.shape == (1, 3, 64, 64)
        assert torch.allclose(out, w3 * 0.5, rtol=0, atol=1e-6)
        assert close(composition_loss(typ, {"loss_weight": 0.5, "reduction": "sum"}, alpha, fg, bg, ori, weight), 1536.0)

    # GradientLoss
    assert close(gradient_loss({}, pred, target), 0.1860352, rel=1e-6)
    out = gradient_loss({"loss_weight": 0.5, "reduction": "none"}, pred, target, weight)
    assert close(out.sum(), 252.0)
    assert close(gradient_loss({"loss_weight": 0.5, "reduction": "sum"}, pred, target, weight), 252.0)
    print("MMagic unit-test checks: OK")


def main():
    torch.manual_seed(0)
    write_cases(OUT_DIR, "pixelwise.json", GENERATOR, pixelwise_cases() + pixelwise_second_order_cases())
    write_cases(OUT_DIR, "composition.json", GENERATOR, composition_cases())
    write_cases(OUT_DIR, "gradient.json", GENERATOR, gradient_cases() + gradient_second_order_cases())
    check_mmagic_unit_tests()


if __name__ == "__main__":
    main()
