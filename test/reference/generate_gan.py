#!/usr/bin/env python3
"""PyTorch reference values for genloss: adversarial losses, penalties, path regulariser.

Independent float64 re-implementation (not MMagic code) of MMagic's
mmagic/models/losses/gan_loss.py (GANLoss, GaussianBlur, DiscShiftLoss, gradient_penalty_loss,
r1_gradient_penalty_loss, gen_path_regularizer), loss_comps/gan_loss_comps.py (GANLossComps)
and adv_loss.py (AdvLoss). Inputs and network weights are drawn in
float32 (exactly representable in float32 and float64); everything is computed in float64,
second-order gradients with torch.autograd.grad(..., create_graph=True).

Run from the repository root:

    /usr/bin/python3 test/reference/generate_gan.py

It rewrites test/reference/{gan,penalties,adv}.json deterministically, then checks MMagic's
own unit-test numbers (tests/test_models/test_losses/test_gan_loss.py,
test_loss_comps/test_gan_loss_comps.py, test_gradient_loss.py) and closed-form values
(wgan-logistic-ns, GaussianBlur, GP and R1 with an identity discriminator) against this
implementation.

Networks are written as small layer lists ("nets" in the JSON) that the TypeScript tests
interpret with TF.js ops. Weights are stored in TF.js layouts ("plain"): conv HWIO
(torch OIHW = permute(3, 2, 0, 1)), depthwise H x W x C x 1 (torch C x 1 x H x W =
permute(2, 3, 0, 1)), linear in x out (torch's weight transposed). Their gradients use the
same layouts. Images are NCHW here and "NCHW" in the JSON (the tests transpose to NHWC);
"flatten" flattens in NHWC order (torch: permute(0, 2, 3, 1) first).
"""

import math
import os
from functools import partial

import torch
import torch.nn.functional as F

from common import Rng, gan_loss_term, tensor_json, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_gan.py"

torch.set_default_dtype(torch.float64)

# 10 significant digits: exact for float32 inputs (9 suffice), 1e-10 relative for results.
tj = partial(tensor_json, digits=10)


# ---------------------------------------------------------------------------
# GANLoss / GANLossComps / GaussianBlur (gan_loss.py, loss_comps/gan_loss_comps.py)
# ---------------------------------------------------------------------------


def gaussian_1d(k, sigma):
    x = torch.arange(k, dtype=torch.float64) - k // 2
    g = torch.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def gaussian_blur(x, kernel_size=(71, 71), sigma=(10.0, 10.0)):
    """Depthwise conv with g_h (x) g_w, zero padding (k-1)//2; kernel_size[0] along H."""
    kh, kw = kernel_size
    k2 = torch.outer(gaussian_1d(kh, sigma[0]), gaussian_1d(kw, sigma[1]))
    c = x.shape[1]
    weight = k2.view(1, 1, kh, kw).repeat(c, 1, 1, 1)
    return F.conv2d(x, weight, padding=((kh - 1) // 2, (kw - 1) // 2), groups=c)


def gan_loss(gan_type, x, target_is_real, is_disc=False, real_label=1.0, fake_label=0.0,
             loss_weight=1.0, mask=None):
    label = real_label if target_is_real else fake_label
    if gan_type == "l1":
        loss = (x - label).abs().mean()
    elif gan_type == "smgan":
        if x.shape[2:] != mask.shape[2:]:
            x = F.interpolate(x, size=mask.shape[2:], mode="bilinear", align_corners=True)
        if is_disc:
            if target_is_real:
                loss = ((x - real_label) ** 2).mean()
            else:
                loss = ((x - gaussian_blur(mask).detach()) ** 2).mean()
        else:
            mse = ((x - label) ** 2).mean()
            loss = (mse * mask / mask.mean()).mean()
    else:
        loss = gan_loss_term(gan_type, x, target_is_real, is_disc, label)
    return loss if is_disc else loss * loss_weight


COMBOS = [(False, True), (False, False), (True, True), (True, False)]  # (is_disc, target_is_real)


def scalar_case(case_id, typ, config, call, args, fn, grad_names, rng):
    leaves, kwargs = {}, {}
    for name, t in args:
        t = t.detach().clone()
        if name in grad_names:
            t.requires_grad_(True)
            leaves[name] = t
        kwargs[name] = t
    out = fn(**kwargs)
    case = {"id": case_id, "type": typ, "config": config}
    if call is not None:
        case["call"] = call
    case["args"] = [{"name": n, "tensor": tj(kwargs[n])} for n, _ in args]
    case["output"] = tj(out)
    target = out
    if out.dim() > 0:
        cot = rng.normal(tuple(out.shape))
        case["cotangent"] = tj(cot)
        target = (out * cot).sum()
    grads = torch.autograd.grad(target, [leaves[n] for n in grad_names], allow_unused=True)
    case["grads"] = {n: tj(g if g is not None else torch.zeros_like(leaves[n]))
                     for n, g in zip(grad_names, grads)}
    return case


def gan_cases():
    cases = []
    variants = [
        # (class, gan_type, tag, input shape, lo, hi, config extras)
        ("GANLoss", "vanilla", "", (2, 1, 3, 3), -2.0, 2.0, {"real_label_val": 0.9, "fake_label_val": 0.2}),
        ("GANLoss", "vanilla", "/large-logits", (2, 1, 3, 3), -40.0, 40.0, {}),
        ("GANLoss", "lsgan", "", (2, 1, 3, 3), -2.0, 2.0, {"real_label_val": 0.9, "fake_label_val": 0.2}),
        ("GANLoss", "l1", "", (2, 1, 3, 3), -2.0, 2.0, {}),
        ("GANLoss", "wgan", "", (2, 1, 3, 3), -2.0, 2.0, {}),
        ("GANLoss", "hinge", "", (2, 1, 3, 3), -2.0, 2.0, {}),
        ("GANLoss", "smgan", "", (2, 1, 6, 6), -1.0, 2.0, {"real_label_val": 0.9}),
        ("GANLoss", "smgan", "/resize-6x5", (2, 1, 6, 5), -1.0, 2.0, {}),
        ("GANLoss", "smgan", "/soft-mask-3ch", (2, 1, 6, 6), -1.0, 2.0, {}),
        ("GANLossComps", "vanilla", "", (2, 1), -3.0, 3.0, {}),
        ("GANLossComps", "lsgan", "", (2, 1, 3, 3), -2.0, 2.0, {"fake_label_val": -1.0}),
        ("GANLossComps", "wgan", "", (2, 1), -2.0, 2.0, {}),
        ("GANLossComps", "wgan-logistic-ns", "", (2, 1, 3, 3), -5.0, 5.0, {}),
        ("GANLossComps", "hinge", "", (2, 1, 3, 3), -2.0, 2.0, {}),
    ]
    for cls, gan_type, tag, shape, lo, hi, extra in variants:
        for is_disc, real in COMBOS:
            cfg = {"gan_type": gan_type, "loss_weight": 2.0, **extra}
            cid = f"{cls}/{gan_type}{tag}/{'disc' if is_disc else 'gen'}/{'real' if real else 'fake'}"
            rng = Rng(cid)
            x = rng.uniform(shape, lo, hi)
            if tag == "/large-logits":
                x.view(-1)[0] = 0.0  # BCE gradient at 0 is sigmoid(0) - t
            args = [("input", x)]
            if gan_type == "smgan":
                if tag == "/soft-mask-3ch":
                    args.append(("mask", rng.uniform((2, 3, 6, 6))))
                else:
                    args.append(("mask", rng.mask((2, 1, 6, 6))))

            def fn(input, mask=None, _t=gan_type, _d=is_disc, _r=real, _c=cfg):
                return gan_loss(_t, input, _r, _d, _c.get("real_label_val", 1.0),
                                _c.get("fake_label_val", 0.0), _c["loss_weight"], mask)

            cases.append(scalar_case(cid, cls, cfg, {"target_is_real": real, "is_disc": is_disc},
                                     args, fn, ["input"], rng))

    for ks, sigma, shape in [((71, 71), (10.0, 10.0), (1, 1, 6, 6)),
                             ((5, 3), (1.5, 0.7), (2, 2, 6, 7)),
                             ((3, 5), (0.5, 2.0), (1, 3, 5, 5)),
                             ((1, 7), (1.0, 3.0), (1, 1, 4, 9))]:
        cfg = {"kernel_size": list(ks), "sigma": list(sigma)}
        cid = f"GaussianBlur/k={ks[0]}x{ks[1]}/sigma={sigma[0]}x{sigma[1]}"
        rng = Rng(cid)
        args = [("x", rng.uniform(shape))]
        cases.append(scalar_case(cid, "GaussianBlur", cfg, None, args,
                                 lambda x, _k=ks, _s=sigma: gaussian_blur(x, _k, _s), ["x"], rng))

    for lw in [0.1, 0.5]:
        cid = f"DiscShiftLoss/loss_weight={lw}"
        rng = Rng(cid)
        args = [("x", rng.uniform((2, 1, 3, 3), -2.0, 2.0))]
        cases.append(scalar_case(cid, "DiscShiftLoss", {"loss_weight": lw}, None, args,
                                 lambda x, _w=lw: (x ** 2).mean() * _w, ["x"], rng))
    cid = "disc_shift_loss"
    rng = Rng(cid)
    cases.append(scalar_case(cid, "disc_shift_loss", {}, None, [("x", rng.uniform((2, 3), -2.0, 2.0))],
                             lambda x: x ** 2, ["x"], rng))
    return cases


# ---------------------------------------------------------------------------
# Networks (layer lists shared with the TypeScript tests)
# ---------------------------------------------------------------------------


def run_layers(layers, params, x):
    """x: NCHW (4-D) or N x F (2-D)."""
    for layer in layers:
        op = layer["op"]
        if op == "conv":
            w = params[layer["w"]].permute(3, 2, 0, 1)
            b = params[layer["b"]] if layer.get("b") else None
            x = F.conv2d(x, w, b, stride=layer.get("stride", 1), padding=layer.get("pad", 0))
        elif op == "depthwise":
            w = params[layer["w"]].permute(2, 3, 0, 1)
            b = params[layer["b"]] if layer.get("b") else None
            x = F.conv2d(x, w, b, stride=layer.get("stride", 1), padding=layer.get("pad", 0),
                         groups=x.shape[1])
        elif op == "leaky_relu":
            x = F.leaky_relu(x, layer["slope"])
        elif op == "tanh":
            x = torch.tanh(x)
        elif op == "sigmoid":
            x = torch.sigmoid(x)
        elif op == "avg_pool":
            x = F.avg_pool2d(x, layer["k"])
        elif op == "max_pool":
            x = F.max_pool2d(x, layer["k"])
        elif op == "resize":
            if layer["mode"] == "nearest":
                x = F.interpolate(x, size=tuple(layer["size"]), mode="nearest")
            else:
                x = F.interpolate(x, size=tuple(layer["size"]), mode="bilinear",
                                  align_corners=layer["align_corners"])
        elif op == "flatten":
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        elif op == "mean_hw":
            x = x.mean(dim=(2, 3))
        elif op == "linear":
            x = x @ params[layer["w"]]
            if layer.get("b"):
                x = x + params[layer["b"]]
        elif op == "reshape":
            x = x.reshape(x.shape[0], *layer["shape"])
        else:
            raise ValueError(op)
    return x


def init_params(key, specs):
    """specs: list of (name, shape, scale); uniform(-scale, scale) float32 draws (bias: around 0)."""
    rng = Rng(key)
    return {name: rng.uniform(shape, -scale, scale) for name, shape, scale in specs}


def with_offset(params, name, offset):
    params[name] = (params[name] + offset).float().double()
    return params


NETS = {}


def add_net(name, layers, specs, offsets=()):
    params = init_params("net/" + name, specs)
    for pname, off in offsets:
        with_offset(params, pname, off)
    NETS[name] = {"layers": layers, "params": params}


add_net(
    "D1-lrelu-conv-stride2",
    [
        {"op": "conv", "w": "c1.w", "b": "c1.b", "stride": 1, "pad": 1},
        {"op": "leaky_relu", "slope": 0.2},
        {"op": "conv", "w": "c2.w", "b": "c2.b", "stride": 2, "pad": 1},
        {"op": "leaky_relu", "slope": 0.2},
        {"op": "flatten"},
        {"op": "linear", "w": "fc.w", "b": "fc.b"},
    ],
    [("c1.w", (3, 3, 3, 4), 0.4), ("c1.b", (4,), 0.1), ("c2.w", (4, 4, 4, 4), 0.3),
     ("c2.b", (4,), 0.1), ("fc.w", (36, 1), 0.3), ("fc.b", (1,), 0.1)],
)
add_net(
    "D2-tanh-maxpool-bilinear-depthwise-sigmoid",
    [
        {"op": "conv", "w": "c1.w", "b": "c1.b", "stride": 1, "pad": 1},
        {"op": "tanh"},
        {"op": "max_pool", "k": 2},
        {"op": "resize", "mode": "bilinear", "size": [6, 6], "align_corners": False},
        {"op": "depthwise", "w": "dw.w", "b": "dw.b", "stride": 1, "pad": 1},
        {"op": "sigmoid"},
        {"op": "conv", "w": "c2.w", "b": "c2.b", "stride": 1, "pad": 0},
    ],
    [("c1.w", (3, 3, 3, 4), 0.5), ("c1.b", (4,), 0.1), ("dw.w", (3, 3, 4, 1), 0.6),
     ("dw.b", (4,), 0.1), ("c2.w", (1, 1, 4, 1), 1.0), ("c2.b", (1,), 0.1)],
)
add_net(
    "D3-avgpool-nearest-bilinear-aligned",
    [
        {"op": "conv", "w": "c1.w", "b": "c1.b", "stride": 1, "pad": 1},
        {"op": "leaky_relu", "slope": 0.2},
        {"op": "avg_pool", "k": 2},
        {"op": "resize", "mode": "nearest", "size": [6, 6]},
        {"op": "conv", "w": "c2.w", "b": "c2.b", "stride": 1, "pad": 1},
        {"op": "leaky_relu", "slope": 0.1},
        {"op": "resize", "mode": "bilinear", "size": [4, 4], "align_corners": True},
        {"op": "mean_hw"},
        {"op": "linear", "w": "fc.w", "b": "fc.b"},
    ],
    [("c1.w", (3, 3, 3, 4), 0.4), ("c1.b", (4,), 0.1), ("c2.w", (3, 3, 4, 2), 0.4),
     ("c2.b", (2,), 0.1), ("fc.w", (2, 1), 1.0), ("fc.b", (1,), 0.1)],
)
add_net(
    "DA-patch",
    [
        {"op": "conv", "w": "c1.w", "b": "c1.b", "stride": 1, "pad": 1},
        {"op": "leaky_relu", "slope": 0.2},
        {"op": "conv", "w": "c2.w", "b": "c2.b", "stride": 2, "pad": 1},
    ],
    [("c1.w", (3, 3, 3, 4), 0.4), ("c1.b", (4,), 0.1), ("c2.w", (3, 3, 4, 1), 0.4),
     ("c2.b", (1,), 0.1)],
)
add_net(
    "DA-pixel",
    [{"op": "conv", "w": "c.w", "b": "c.b", "stride": 1, "pad": 0}, {"op": "tanh"}],
    [("c.w", (1, 1, 1, 1), 1.0), ("c.b", (1,), 0.2)],
)

# Path-regulariser generators: mapping = layer list (z -> n x L x S); synthesis = named arch.
Z_DIM, LAYERS, STYLE = 3, 2, 4
MAPPING = [
    {"op": "linear", "w": "map1.w", "b": "map1.b"},
    {"op": "leaky_relu", "slope": 0.2},
    {"op": "linear", "w": "map2.w", "b": "map2.b"},
    {"op": "reshape", "shape": [LAYERS, STYLE]},
]
MAPPING_SPECS = [("map1.w", (Z_DIM, 8), 0.6), ("map1.b", (8,), 0.1),
                 ("map2.w", (8, LAYERS * STYLE), 0.5), ("map2.b", (LAYERS * STYLE,), 0.1)]
SYNTH_SPECS = [("const", (1, 2, 2, 4), 1.0), ("A0.w", (STYLE, 4), 0.4), ("A0.b", (4,), 0.1),
               ("conv0.w", (3, 3, 4, 4), 0.4), ("conv0.b", (4,), 0.1),
               ("A1.w", (STYLE, 4), 0.4), ("A1.b", (4,), 0.1),
               ("rgb.w", (1, 1, 4, 3), 0.5), ("rgb.b", (3,), 0.1)]
GENS = {}


def add_gen(name, arch):
    params = init_params("gen/" + name, MAPPING_SPECS + SYNTH_SPECS)
    with_offset(params, "A0.b", 1.0)  # styles around 1
    with_offset(params, "A1.b", 1.0)
    GENS[name] = {"mapping": MAPPING, "synthesis": arch, "params": params}


add_gen("G1-act-mod-nearest-tanh", "act_mod")
add_gen("G2-weight-mod-demod-bilinear-sigmoid", "weight_mod")


def nhwc(t):
    return t.permute(0, 3, 1, 2)


def synthesis(arch, p, lat):
    """lat: n x L x S -> images n x 3 x 4 x 4 (NCHW)."""
    n = lat.shape[0]
    x = nhwc(p["const"]).expand(n, -1, -1, -1)
    s0 = lat[:, 0, :] @ p["A0.w"] + p["A0.b"]
    s1 = lat[:, 1, :] @ p["A1.w"] + p["A1.b"]
    if arch == "act_mod":
        x = x * s0[:, :, None, None]
        x = F.conv2d(x, p["conv0.w"].permute(3, 2, 0, 1), p["conv0.b"], padding=1)
        x = F.leaky_relu(x, 0.2)
        x = F.interpolate(x, size=(4, 4), mode="nearest")
        x = x * s1[:, :, None, None]
        x = F.conv2d(x, p["rgb.w"].permute(3, 2, 0, 1), p["rgb.b"])
        return torch.tanh(x)
    if arch == "weight_mod":
        outs = []
        for i in range(n):
            w = p["conv0.w"] * s0[i][None, None, :, None]
            w = w * torch.rsqrt((w ** 2).sum(dim=(0, 1, 2)) + 1e-8)[None, None, None, :]
            outs.append(F.conv2d(x[i:i + 1], w.permute(3, 2, 0, 1), padding=1))
        x = torch.cat(outs, 0) + p["conv0.b"][None, :, None, None]
        x = F.leaky_relu(x, 0.2)
        x = F.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
        outs = []
        for i in range(n):
            w = p["rgb.w"] * s1[i][None, None, :, None]
            outs.append(F.conv2d(x[i:i + 1], w.permute(3, 2, 0, 1)))
        x = torch.cat(outs, 0) + p["rgb.b"][None, :, None, None]
        return torch.sigmoid(x)
    raise ValueError(arch)


def leaves(params):
    return {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}


def params_json(params):
    return {k: tj(v, "plain") for k, v in params.items()}


def grads_json(target, named):
    names = list(named)
    grads = torch.autograd.grad(target, [named[n] for n in names], allow_unused=True)
    out = {}
    for n, g in zip(names, grads):
        g = g if g is not None else torch.zeros_like(named[n])
        out[n] = tj(g, "plain" if n in ALL_PARAM_NAMES else None)
    return out


ALL_PARAM_NAMES = set()
for _net in list(NETS.values()) + list(GENS.values()):
    ALL_PARAM_NAMES.update(_net["params"])


# ---------------------------------------------------------------------------
# gradient penalty and R1 (gan_loss.py: gradient_penalty_loss, r1_gradient_penalty_loss)
# ---------------------------------------------------------------------------


class Scaler:
    """GradScaler semantics: scale(t) = t * s, get_scale() = s."""

    def __init__(self, s):
        self.s = s

    def scale(self, t):
        return t * self.s

    def get_scale(self):
        return self.s


def gradient_penalty(D, real, fake, alpha, mask=None, norm_mode="pixel"):
    x = (alpha * real + (1.0 - alpha) * fake).detach().requires_grad_(True)
    pred = D(x)
    g = torch.autograd.grad(pred, x, grad_outputs=torch.ones_like(pred), create_graph=True)[0]
    if mask is not None:
        g = g * mask
    if norm_mode == "pixel":
        p = ((g.norm(2, dim=1) - 1) ** 2).mean()
    elif norm_mode == "HWC":
        p = ((g.reshape(g.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()
    else:
        raise ValueError(norm_mode)
    if mask is not None:
        p = p / mask.mean()
    return p


def r1_penalty(D, real, mask=None, norm_mode="pixel", scaler=None):
    x = real  # real is a leaf requiring grad: the penalty's gradient flows back to it
    pred = D(x)
    if scaler is not None:
        pred = scaler.scale(pred)
    g = torch.autograd.grad(pred, x, grad_outputs=torch.ones_like(pred), create_graph=True)[0]
    if scaler is not None:
        g = g * (1.0 / scaler.get_scale())
    if mask is not None:
        g = g * mask
    if norm_mode == "pixel":
        p = (g.norm(2, dim=1) ** 2).mean()
    elif norm_mode == "HWC":
        p = (g ** 2).reshape(g.shape[0], -1).sum(1).mean()
    else:
        raise ValueError(norm_mode)
    if mask is not None:
        p = p / mask.mean()
    return p


IMG = (2, 3, 6, 6)


def penalty_cases():
    cases = []
    gp_variants = [
        ("gradient_penalty_loss", {"norm_mode": "pixel"}, None),
        ("gradient_penalty_loss", {"norm_mode": "HWC"}, None),
        ("gradient_penalty_loss", {"norm_mode": "pixel"}, "N1HW"),
        ("gradient_penalty_loss", {"norm_mode": "HWC"}, "NCHW"),
        ("GradientPenaltyLoss", {"loss_weight": 10.0}, "N1HW"),
        ("GradientPenaltyLoss", {"loss_weight": 0.5, "norm_mode": "HWC"}, None),
    ]
    r1_variants = [
        ({"norm_mode": "pixel"}, None, None),
        ({"norm_mode": "HWC"}, None, None),
        ({"norm_mode": "pixel"}, "N1HW", None),
        ({"norm_mode": "HWC"}, "NCHW", None),
        ({"norm_mode": "pixel"}, "N1HW", 3.0),
        ({"norm_mode": "HWC"}, None, 1024.0),
    ]
    for net_name, net in NETS.items():
        if not net_name.startswith("D") or net_name.startswith("DA"):
            continue
        for typ, cfg, mk in gp_variants:
            cid = f"{typ}/{net_name}/{cfg.get('norm_mode', 'pixel')}/mask={mk or 'none'}"
            if "loss_weight" in cfg:
                cid += f"/loss_weight={cfg['loss_weight']}"
            rng = Rng(cid)
            p = leaves(net["params"])
            real = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            fake = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            alpha = rng.uniform((IMG[0], 1, 1, 1))
            mask = None if mk is None else rng.mask((IMG[0], 1 if mk == "N1HW" else IMG[1], IMG[2], IMG[3]))
            D = lambda x, _p=p, _l=net["layers"]: run_layers(_l, _p, x)  # noqa: E731
            out = gradient_penalty(D, real, fake, alpha, mask, cfg.get("norm_mode", "pixel"))
            if typ == "GradientPenaltyLoss":
                out = out * cfg["loss_weight"]
            args = [{"name": "real_data", "tensor": tj(real)}, {"name": "fake_data", "tensor": tj(fake)}]
            if mask is not None:
                args.append({"name": "mask", "tensor": tj(mask)})
            cases.append({
                "id": cid, "type": typ, "config": cfg, "net": net_name, "args": args,
                "alpha": tj(alpha), "output": tj(out),
                "grads": grads_json(out, {**p, "real_data": real, "fake_data": fake}),
            })
        for cfg, mk, scale in r1_variants:
            cid = f"r1_gradient_penalty_loss/{net_name}/{cfg['norm_mode']}/mask={mk or 'none'}"
            if scale is not None:
                cid += f"/loss_scaler={scale}"
            rng = Rng(cid)
            p = leaves(net["params"])
            real = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            mask = None if mk is None else rng.mask((IMG[0], 1 if mk == "N1HW" else IMG[1], IMG[2], IMG[3]))
            D = lambda x, _p=p, _l=net["layers"]: run_layers(_l, _p, x)  # noqa: E731
            out = r1_penalty(D, real, mask, cfg["norm_mode"], None if scale is None else Scaler(scale))
            args = [{"name": "real_data", "tensor": tj(real)}]
            if mask is not None:
                args.append({"name": "mask", "tensor": tj(mask)})
            case = {"id": cid, "type": "r1_gradient_penalty_loss", "config": cfg, "net": net_name,
                    "args": args}
            if scale is not None:
                case["loss_scale"] = scale
            case["output"] = tj(out)
            case["grads"] = grads_json(out, {**p, "real_data": real})
            cases.append(case)
    cases.extend(path_cases())
    return cases


# ---------------------------------------------------------------------------
# path-length regulariser (gan_loss.py: gen_path_regularizer; several steps: EMA state)
# ---------------------------------------------------------------------------


def path_regularizer(gen, p, z, noise, mean_path_length, decay, weight, scaler):
    lat = run_layers(gen["mapping"], p, z)
    img = synthesis(gen["synthesis"], p, lat)
    noise = noise / math.sqrt(img.shape[2] * img.shape[3])
    total = (img * noise).sum()
    if scaler is not None:
        total = scaler.scale(total)
    g = torch.autograd.grad(total, lat, create_graph=True)[0]
    if scaler is not None:
        g = g * (1.0 / scaler.get_scale())
    pl = torch.sqrt((g ** 2).sum(2).mean(1))
    pm = mean_path_length + decay * (pl.mean() - mean_path_length)
    penalty = ((pl - pm) ** 2).mean() * weight
    return penalty, pm.detach(), pl


def batch_size(num_batches, shrink, pl_batch_size):
    if shrink > 1:
        num_batches = max(1, num_batches // shrink)
    if pl_batch_size is not None:
        num_batches = pl_batch_size
    return num_batches


def path_cases():
    cases = []
    variants = [
        # (id tag, type, gen, config, num_batches per step, initial mean, loss scale)
        ("shrink2", "gen_path_regularizer", "G1-act-mod-nearest-tanh",
         {"pl_batch_shrink": 2, "decay": 0.01, "weight": 1.0}, [4, 5, 4], 0.0, None),
        ("pl_batch_size3/scaler8", "GenPathRegularizer", "G2-weight-mod-demod-bilinear-sigmoid",
         {"loss_weight": 2.0, "pl_batch_size": 3, "decay": 0.5}, [2, 2, 2], 0.0, 8.0),
        ("decay1", "gen_path_regularizer", "G2-weight-mod-demod-bilinear-sigmoid",
         {"decay": 1.0, "weight": 3.0}, [2, 3], 0.7, None),
        ("decay0/shrink-floor1", "gen_path_regularizer", "G1-act-mod-nearest-tanh",
         {"pl_batch_shrink": 4, "decay": 0.0, "weight": 1.0}, [3, 2], 0.5, None),
        ("module-defaults", "GenPathRegularizer", "G1-act-mod-nearest-tanh",
         {}, [2, 2, 2, 2], 0.0, None),
    ]
    for tag, typ, gen_name, cfg, steps_nb, mpl0, scale in variants:
        gen = GENS[gen_name]
        cid = f"{typ}/{gen_name}/{tag}"
        rng = Rng(cid)
        decay = cfg.get("decay", 0.01)
        weight = cfg.get("weight", 1.0) * cfg.get("loss_weight", 1.0)
        mpl = mpl0
        steps = []
        for nb in steps_nb:
            n = batch_size(nb, cfg.get("pl_batch_shrink", 1), cfg.get("pl_batch_size"))
            p = leaves(gen["params"])
            z = rng.normal((n, Z_DIM))
            noise = rng.normal((n, 3, 4, 4))
            penalty, pm, pl = path_regularizer(gen, p, z, noise, mpl, decay, weight,
                                               None if scale is None else Scaler(scale))
            steps.append({
                "num_batches": nb, "n": n, "z": tj(z), "noise": tj(noise),
                "output": tj(penalty), "mean_path_length": tj(pm), "path_lengths": tj(pl),
                "grads": grads_json(penalty, p),
            })
            mpl = float(pm)
        case = {"id": cid, "type": typ, "config": cfg, "generator": gen_name,
                "mean_path_length": mpl0}
        if scale is not None:
            case["loss_scale"] = scale
        case["steps"] = steps
        cases.append(case)
    return cases


# ---------------------------------------------------------------------------
# AdvLoss (adv_loss.py, DeblurGANv2), with the RaGAN pools over several calls
# ---------------------------------------------------------------------------


class Pool:
    def __init__(self, size=50):
        self.size = size
        self.rows = []

    def add(self, pred):
        for row in pred.detach():
            self.rows.append(row.unsqueeze(0))
            if len(self.rows) > self.size:
                self.rows.pop(0)

    def mean(self):
        return torch.cat(self.rows, 0).mean()


def bce(x, t):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, float(t)))


def adv_loss(loss_type, pools, D, fake, real, model, alpha):
    if model == "discriminator":
        pf = D(fake.detach())
        if loss_type in ("ragan", "ragan-ls"):
            pools[0].add(pf)
        pr = D(real)
        if loss_type == "gan":
            return 0.5 * (bce(pf, 0) + bce(pr, 1))
        if loss_type == "lsgan":
            return 0.5 * (pf.abs().mean() + (pr - 1).abs().mean())
        if loss_type == "wgan-gp":
            return pf.mean() - pr.mean() + 10.0 * gradient_penalty(D, real, fake, alpha)
        pools[1].add(pr)
        mf, mr = pools[0].mean(), pools[1].mean()
        if loss_type == "ragan":
            return 0.5 * (bce(pr - mf, 1) + bce(pf - mr, 0))
        return 0.5 * (((pr - mf - 1) ** 2).mean() + ((pf - mr + 1) ** 2).mean())
    if loss_type == "gan":
        return bce(D(fake), 1)
    if loss_type == "lsgan":
        return (D(fake) - 1).abs().mean()
    if loss_type == "wgan-gp":
        return -D(fake).mean()
    mf, mr = pools[0].mean(), pools[1].mean()
    pf, pr = D(fake), D(real)
    if loss_type == "ragan":
        return 0.5 * (bce(pr - mf, 0) + bce(pf - mr, 1))
    return 0.5 * (((pr - mf + 1) ** 2).mean() + ((pf - mr - 1) ** 2).mean())


def adv_cases():
    cases = []
    seq = ["discriminator", "generator", "discriminator", "discriminator", "generator"]
    variants = [(t, "DA-patch", (2, 3, 4, 4), seq, 1.0) for t in ["gan", "lsgan", "wgan-gp", "ragan", "ragan-ls"]]
    variants.append(("ragan", "DA-patch", (2, 3, 4, 4), seq, 0.5))
    overflow = ["discriminator", "discriminator", "generator", "discriminator", "generator"]
    variants += [(t, "DA-pixel", (20, 1, 2, 2), overflow, 1.0) for t in ["ragan", "ragan-ls"]]
    for loss_type, net_name, shape, models, lw in variants:
        net = NETS[net_name]
        cid = f"AdvLoss/{loss_type}/{net_name}/N={shape[0]}"
        if lw != 1.0:
            cid += f"/loss_weight={lw}"
        rng = Rng(cid)
        pools = (Pool(), Pool())
        steps = []
        for model in models:
            p = leaves(net["params"])
            fake = rng.uniform(shape, -1.0, 1.0).requires_grad_(True)
            real = rng.uniform(shape, -1.0, 1.0).requires_grad_(True)
            alpha = rng.uniform((shape[0], 1, 1, 1)) if loss_type == "wgan-gp" else None
            D = lambda x, _p=p, _l=net["layers"]: run_layers(_l, _p, x)  # noqa: E731
            out = adv_loss(loss_type, pools, D, fake, real, model, alpha) * lw
            step = {"model": model, "fakeB": tj(fake), "realB": tj(real)}
            if alpha is not None:
                step["alpha"] = tj(alpha)
            step["output"] = tj(out)
            step["pool_rows"] = [len(pools[0].rows), len(pools[1].rows)]
            step["grads"] = grads_json(out, {**p, "fakeB": fake, "realB": real})
            steps.append(step)
        cfg = {"loss_type": loss_type}
        if lw != 1.0:
            cfg["loss_weight"] = lw
        cases.append({"id": cid, "type": "AdvLoss", "config": cfg, "net": net_name, "steps": steps})
    return cases


# ---------------------------------------------------------------------------
# MMagic's own unit-test numbers (test_gan_loss.py, test_loss_comps/test_gan_loss_comps.py,
# test_gradient_loss.py) and closed-form values
# ---------------------------------------------------------------------------


def close(a, b, rel=1e-6):
    return abs(float(a) - b) <= rel * max(1.0, abs(b))


def check_mmagic_unit_tests():
    in1 = torch.ones(1, 1)
    in2 = 2.0 * torch.ones(1, 3, 6, 6)
    mask = torch.ones(1, 3, 6, 6)
    want = {
        "vanilla": (in1, [0.6265233, 2.6265232, 0.3132616, 1.3132616]),
        "lsgan": (in2, [2, 8, 1, 4]),
        "wgan": (in2, [-4, 4, -2, 2]),
        "hinge": (in2, [-4, -4, 0, 3]),
        "smgan": (in2, [2, 8, 1, 3.786323]),
        "wgan-logistic-ns": (in2, [0.2538560, 4.2538560, None, None]),
    }
    for t, (x, values) in want.items():
        for (is_disc, real), v in zip(COMBOS, values):
            if v is not None:
                got = gan_loss(t, x, real, is_disc, loss_weight=2.0, mask=mask)
                assert close(got, v), (t, is_disc, real, float(got), v)
    assert close(gan_loss("smgan", 2.0 * torch.ones(1, 3, 6, 5), True, False, loss_weight=2.0, mask=mask), 2.0)
    b = gaussian_blur(torch.ones(1, 1, 6, 6))
    assert abs(float(b[0, 0, 2, 2]) - 0.05557) < 1e-5 and abs(float(b[0, 0, 0, 0]) - 0.05242) < 1e-5
    ident = lambda x: x  # noqa: E731
    hole = torch.ones(1, 3, 6, 6)
    hole[:, :, 2:4, 2:4] = 0.0
    twos = 2.0 * torch.ones(1, 3, 6, 6)
    a = torch.full((1, 1, 1, 1), 0.3)
    assert close(10.0 * gradient_penalty(ident, twos, twos, a), 5.358983)
    assert close(10.0 * gradient_penalty(ident, twos, twos, a, hole), 6.608983)
    assert close(r1_penalty(ident, twos.clone().requires_grad_(True), hole), 3.0)
    assert close(0.1 * (torch.tensor([0.1]) ** 2).mean(), 0.001)
    print("MMagic unit-test checks: OK")


def main():
    torch.manual_seed(0)
    write_cases(OUT_DIR, "gan.json", GENERATOR, gan_cases())
    nets = {name: {"layers": n["layers"], "params": params_json(n["params"])} for name, n in NETS.items()}
    gens = {name: {"mapping": g["mapping"], "synthesis": g["synthesis"], "params": params_json(g["params"])}
            for name, g in GENS.items()}
    write_cases(OUT_DIR, "penalties.json", GENERATOR, penalty_cases(), {"nets": nets, "generators": gens})
    write_cases(OUT_DIR, "adv.json", GENERATOR, adv_cases(), {"nets": nets})
    check_mmagic_unit_tests()


if __name__ == "__main__":
    main()
