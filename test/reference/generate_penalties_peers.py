#!/usr/bin/env python3
"""PyTorch reference values for the peers' gradient penalties (issue 16 item 5).

Independent float64 implementation of the definitions (not the peers' code):

- Mescheder et al. 2018 (GAN_stability, gan_training/train.py): `compute_grad2(d_out, x_in)` =
  per-sample sum over C, H, W of (d sum(D(x)) / dx)^2; R1 = compute_grad2(d_real, x_real).mean()
  (reg_type 'real'), R2 = the same on fakes ('fake'), R1 + R2 ('real_fake'), `wgan_gp_reg` =
  mean_n (sqrt(compute_grad2(D(x_hat), x_hat)) - center)^2 with center 1 ('wgangp') and
  0 ('wgangp0'). The reg_param (gamma/2) is the caller's loss weight.
- TF-GAN `wasserstein_gradient_penalty(..., target=1.0, one_sided=False)`: per-sample slopes
  ||g||, penalty mean (slopes / target - 1)^2, one-sided mean max(0, slopes / target - 1)^2.
  (TF-GAN adds 1e-10 under the square root; genloss and this script do not.)

genloss's functions also offer MMagic's per-pixel norm ('pixel') and masks for these; the cases
cover both norm modes. Gradients (second order: through the input gradient, create_graph=True)
are taken w.r.t. every discriminator weight and the images.

The discriminators are generate_gan.py's D1-D3 (imported: its layer interpreter and weights), so
the nets in penalties_peers.json equal those of penalties.json. Run from the repository root:

    /usr/bin/python3 test/reference/generate_penalties_peers.py

It rewrites test/reference/penalties_peers.json deterministically and checks closed-form values
with an identity discriminator.
"""

import math
import os

import torch

from common import Rng, write_cases
from generate_gan import IMG, NETS, grads_json, leaves, params_json, run_layers, tj

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_penalties_peers.py"

torch.set_default_dtype(torch.float64)


def input_grad(D, x, scale=None):
    """d sum(scale * D(x)) / dx / scale, on the graph (create_graph=True)."""
    out = D(x).sum()
    if scale is not None:
        out = out * scale
    g = torch.autograd.grad(out, x, create_graph=True)[0]
    return g if scale is None else g / scale


def sample_squares(g, norm_mode):
    """Squared norms: per sample (HWC, GAN_stability's compute_grad2) or per pixel (over C)."""
    if norm_mode == "HWC":
        return (g ** 2).reshape(g.shape[0], -1).sum(1)
    return (g ** 2).sum(1)


def sample_norms(g, norm_mode):
    """torch.norm (subgradient 0 at 0, as at masked pixels), per sample or per pixel."""
    if norm_mode == "HWC":
        return g.reshape(g.shape[0], -1).norm(2, dim=1)
    return g.norm(2, dim=1)


def zero_centred(D, x, mask=None, norm_mode="pixel", scale=None):
    """R1 (x real) / R2 (x fake): mean of squared norms, over the mask's mean."""
    g = input_grad(D, x, scale)
    if mask is not None:
        g = g * mask
    p = sample_squares(g, norm_mode).mean()
    return p if mask is None else p / mask.mean()


def interpolate(real, fake, alpha):
    return (alpha * real + (1.0 - alpha) * fake).detach().requires_grad_(True)


def norms_at(D, x, mask, norm_mode):
    g = input_grad(D, x)
    if mask is not None:
        g = g * mask
    return sample_norms(g, norm_mode)


def target_gp(D, real, fake, alpha, mask=None, norm_mode="pixel", target=1.0, one_sided=False):
    """TF-GAN's penalty on x_hat; target 0: GAN_stability's zero-centred wgan_gp_reg, ||g||^2."""
    x = interpolate(real, fake, alpha)
    g = input_grad(D, x)
    if mask is not None:
        g = g * mask
    if target == 0:
        p = sample_squares(g, norm_mode).mean()
    else:
        excess = sample_norms(g, norm_mode) / target - 1.0
        if one_sided:
            excess = excess.clamp(min=0.0)
        p = (excess ** 2).mean()
    return p if mask is None else p / mask.mean()


def draw_mask(rng, mk):
    if mk is None:
        return None
    return rng.mask((IMG[0], 1 if mk == "N1HW" else IMG[1], IMG[2], IMG[3]))


def gap_target(norms):
    """A target in the widest gap between consecutive norms of the middle half (so about half
    the norms lie above it), 6 significant digits, at least 0.1% of it from every norm (else the
    one-sided kink would sit on a norm)."""
    s = sorted(float(v) for v in norms.reshape(-1))
    lo, hi = max(1, len(s) // 4), max(2, (3 * len(s)) // 4)
    i = max(range(lo, hi), key=lambda k: s[k] - s[k - 1]) if hi - lo > 1 else lo
    t = float(torch.tensor(float("%.6g" % (0.5 * (s[i - 1] + s[i]))), dtype=torch.float32))
    assert t > 0 and all(abs(v - t) > 1e-3 * t for v in s), ("target too close to a norm", s, t)
    return t


R2_VARIANTS = [("pixel", None, None), ("HWC", None, None), ("pixel", "N1HW", None),
               ("HWC", "NCHW", None), ("pixel", "N1HW", 3.0)]
# (type, norm_mode, mask, target (a number, or "gap": between the norms), one_sided, loss_weight)
GP_VARIANTS = [
    ("gradient_penalty_loss", "pixel", None, 0.0, False, None),
    ("gradient_penalty_loss", "HWC", None, 0.0, False, None),
    ("gradient_penalty_loss", "HWC", "NCHW", 0.0, True, None),
    ("gradient_penalty_loss", "HWC", None, 2.0, False, None),
    ("gradient_penalty_loss", "pixel", "N1HW", 0.5, False, None),
    ("gradient_penalty_loss", "HWC", None, "gap", True, None),
    ("gradient_penalty_loss", "pixel", None, "gap", True, None),
    ("gradient_penalty_loss", "pixel", "N1HW", "gap", True, None),
    ("GradientPenaltyLoss", "HWC", None, 0.0, False, 10.0),
    ("GradientPenaltyLoss", "pixel", None, "gap", True, 0.5),
]


def cases():
    out = []
    for net_name, net in NETS.items():
        if not net_name.startswith("D") or net_name.startswith("DA"):
            continue
        layers = net["layers"]
        for mode, mk, scale in R2_VARIANTS:
            cid = f"r2_gradient_penalty_loss/{net_name}/{mode}/mask={mk or 'none'}"
            if scale is not None:
                cid += f"/loss_scaler={scale}"
            rng = Rng(cid)
            p = leaves(net["params"])
            fake = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            mask = draw_mask(rng, mk)
            D = lambda x, _p=p: run_layers(layers, _p, x)  # noqa: E731
            val = zero_centred(D, fake, mask, mode, scale)
            args = [{"name": "fake_data", "tensor": tj(fake)}]
            if mask is not None:
                args.append({"name": "mask", "tensor": tj(mask)})
            case = {"id": cid, "type": "r2_gradient_penalty_loss", "config": {"norm_mode": mode},
                    "net": net_name, "args": args}
            if scale is not None:
                case["loss_scale"] = scale
            case["output"] = tj(val)
            case["grads"] = grads_json(val, {**p, "fake_data": fake})
            out.append(case)
        for mode in ["pixel", "HWC"]:
            cid = f"r1_r2/{net_name}/{mode}"
            rng = Rng(cid)
            p = leaves(net["params"])
            real = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            fake = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            D = lambda x, _p=p: run_layers(layers, _p, x)  # noqa: E731
            val = zero_centred(D, real, None, mode) + zero_centred(D, fake, None, mode)
            out.append({
                "id": cid, "type": "r1_r2", "config": {"norm_mode": mode}, "net": net_name,
                "args": [{"name": "real_data", "tensor": tj(real)}, {"name": "fake_data", "tensor": tj(fake)}],
                "output": tj(val), "grads": grads_json(val, {**p, "real_data": real, "fake_data": fake}),
            })
        for typ, mode, mk, target, one_sided, weight in GP_VARIANTS:
            cid = f"{typ}/{net_name}/{mode}/mask={mk or 'none'}/target={target}/one_sided={one_sided}"
            if weight is not None:
                cid += f"/loss_weight={weight}"
            rng = Rng(cid)
            p = leaves(net["params"])
            real = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            fake = rng.uniform(IMG, -1.0, 1.0).requires_grad_(True)
            alpha = rng.uniform((IMG[0], 1, 1, 1))
            mask = draw_mask(rng, mk)
            D = lambda x, _p=p: run_layers(layers, _p, x)  # noqa: E731
            if target == "gap":
                target = gap_target(norms_at(D, interpolate(real, fake, alpha), mask, mode).detach())
            val = target_gp(D, real, fake, alpha, mask, mode, target, one_sided)
            if weight is not None:
                val = val * weight
            assert float(val) > 0.0
            cfg = {"norm_mode": mode, "target": target, "one_sided": one_sided}
            if weight is not None:
                cfg["loss_weight"] = weight
            args = [{"name": "real_data", "tensor": tj(real)}, {"name": "fake_data", "tensor": tj(fake)}]
            if mask is not None:
                args.append({"name": "mask", "tensor": tj(mask)})
            out.append({
                "id": cid, "type": typ, "config": cfg, "net": net_name, "args": args,
                "alpha": tj(alpha), "output": tj(val),
                "grads": grads_json(val, {**p, "real_data": real, "fake_data": fake}),
            })
    return out


def close(a, b, rel=1e-9):
    return abs(float(a) - b) <= rel * max(1.0, abs(b))


def check_closed_forms():
    """Identity D on a constant image: g = 1 everywhere; 1x3x6x6, per-sample norm sqrt(108)."""
    ident = lambda x: x  # noqa: E731
    twos = 2.0 * torch.ones(1, 3, 6, 6)
    a = torch.full((1, 1, 1, 1), 0.3)
    assert close(zero_centred(ident, twos.clone().requires_grad_(True), None, "HWC"), 108.0)
    assert close(zero_centred(ident, twos.clone().requires_grad_(True), None, "pixel"), 3.0)
    assert close(target_gp(ident, twos, twos, a, None, "HWC", 0.0), 108.0)
    assert close(target_gp(ident, twos, twos, a, None, "HWC", 2.0), (math.sqrt(108) / 2 - 1) ** 2)
    assert close(target_gp(ident, twos, twos, a, None, "pixel", 1.0), (math.sqrt(3) - 1) ** 2)
    assert close(target_gp(ident, twos, twos, a, None, "pixel", 4.0, True), 0.0)
    assert close(target_gp(ident, twos, twos, a, None, "pixel", 4.0), (math.sqrt(3) / 4 - 1) ** 2)
    print("closed-form checks: OK")


def main():
    torch.manual_seed(0)
    nets = {name: {"layers": n["layers"], "params": params_json(n["params"])}
            for name, n in NETS.items() if name.startswith("D") and not name.startswith("DA")}
    write_cases(OUT_DIR, "penalties_peers.json", GENERATOR, cases(), {"nets": nets})
    check_closed_forms()


if __name__ == "__main__":
    main()
