#!/usr/bin/env python3
"""PyTorch reference values for genloss's RelativisticGANLoss (src/losses/relativistic.ts).

Independent float64 implementation of the definitions (not genloss's code, not TF-GAN's):

- relativistic average (TF-GAN's relativistic_discriminator_loss / relativistic_generator_loss,
  tensorflow_gan/python/losses/losses_impl.py, for vanilla; Jolicoeur-Martineau 2018 for the others),
  with r = C_r - mean(C_f) and f = C_f - mean(C_r):
    vanilla  D: BCE(r, 1) + BCE(f, 0)            G: BCE(r, 0) + BCE(f, 1)      (RaSGAN)
    lsgan    D: E(r - 1)^2 + E(f + 1)^2          G: E(r + 1)^2 + E(f - 1)^2    (RaLSGAN)
    hinge    D: E relu(1 - r) + E relu(1 + f)    G: E relu(1 + r) + E relu(1 - f)  (RaHinge)
    wgan     D: -E r + E f                       G: E r - E f
- relativistic pairwise (RGAN), one expectation over paired samples:
    D: E g(C_r - C_f), G: E g(C_f - C_r), with g(x) = softplus(-x) (vanilla), (x - 1)^2 (lsgan),
    relu(1 - x) (hinge), -x (wgan); genloss logs it as two equal halves.

The generator loss is multiplied by loss_weight (0.5 in every case), the discriminator loss not.
Predictions are drawn in float32; everything is computed in float64. Run from the repository root:

    /usr/bin/python3 test/reference/generate_relativistic.py

It rewrites test/reference/relativistic.json deterministically.
"""

import os
from functools import partial

import torch
import torch.nn.functional as F

from common import Rng, tensor_json, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_relativistic.py"
LOSS_WEIGHT = 0.5

torch.set_default_dtype(torch.float64)
tj = partial(tensor_json, digits=10)


def bce(x, label):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, label))


def average_terms(gan_type, c_r, c_f, is_disc):
    r = c_r - c_f.mean()
    f = c_f - c_r.mean()
    if gan_type == "vanilla":
        return (bce(r, 1.0), bce(f, 0.0)) if is_disc else (bce(r, 0.0), bce(f, 1.0))
    if gan_type == "lsgan":
        if is_disc:
            return ((r - 1) ** 2).mean(), ((f + 1) ** 2).mean()
        return ((r + 1) ** 2).mean(), ((f - 1) ** 2).mean()
    if gan_type == "hinge":
        args = (1 - r, 1 + f) if is_disc else (1 + r, 1 - f)
        for a in args:
            assert a.abs().min() > 1e-3, "a hinge argument is too close to its kink"
        return F.relu(args[0]).mean(), F.relu(args[1]).mean()
    if gan_type == "wgan":
        return (-r.mean(), f.mean()) if is_disc else (r.mean(), -f.mean())
    raise ValueError(gan_type)


def pairwise_loss(gan_type, c_r, c_f, is_disc, check=True):
    x = c_r - c_f if is_disc else c_f - c_r
    if gan_type == "vanilla":
        return F.softplus(-x).mean()
    if gan_type == "lsgan":
        return ((x - 1) ** 2).mean()
    if gan_type == "hinge":
        assert not check or (1 - x).abs().min() > 1e-3, "a hinge argument is too close to its kink"
        return F.relu(1 - x).mean()
    if gan_type == "wgan":
        return -x.mean()
    raise ValueError(gan_type)


SHAPES = {
    # name: (real shape, fake shape), NCHW for 4-D
    "vector": ((4, 1), (4, 1)),
    "patch": ((2, 1, 3, 3), (2, 1, 3, 3)),
    "unequal": ((3, 1), (5, 1)),  # average only: the sets' sizes may differ
}


def relativistic_cases():
    cases = []
    for gan_type in ["vanilla", "lsgan", "hinge", "wgan"]:
        for mode in ["average", "pairwise"]:
            for shape_name, (real_shape, fake_shape) in SHAPES.items():
                if mode == "pairwise" and real_shape != fake_shape:
                    continue
                for is_disc in [True, False]:
                    case_id = f"RelativisticGANLoss/{gan_type}/{mode}/{shape_name}/{'disc' if is_disc else 'gen'}"
                    rng = Rng(case_id)
                    c_r = rng.uniform(real_shape, -2.0, 2.0).requires_grad_(True)
                    c_f = rng.uniform(fake_shape, -2.0, 2.0).requires_grad_(True)
                    if mode == "average":
                        real_term, fake_term = average_terms(gan_type, c_r, c_f, is_disc)
                    else:
                        half = pairwise_loss(gan_type, c_r, c_f, is_disc) / 2
                        real_term, fake_term = half, half
                    scale = 1.0 if is_disc else LOSS_WEIGHT
                    real_term, fake_term = real_term * scale, fake_term * scale
                    out = real_term + fake_term
                    g_r, g_f = torch.autograd.grad(out, [c_r, c_f])
                    cases.append({
                        "id": case_id,
                        "type": "RelativisticGANLoss",
                        "config": {"gan_type": gan_type, "relativistic": mode, "loss_weight": LOSS_WEIGHT},
                        "call": {"is_disc": is_disc},
                        "args": [{"name": "predReal", "tensor": tj(c_r)}, {"name": "predFake", "tensor": tj(c_f)}],
                        "output": tj(out),
                        "terms": {"real": tj(real_term), "fake": tj(fake_term)},
                        "grads": {"predReal": tj(g_r), "predFake": tj(g_f)},
                    })
    return cases


def check_closed_forms():
    """Hand-computed values: D(real) = 1, D(fake) = 0 everywhere."""
    c_r, c_f = torch.ones(3, 1), torch.zeros(3, 1)
    sp = F.softplus(torch.tensor(-1.0)).item()  # log(1 + e^-1)
    r, f = average_terms("vanilla", c_r, c_f, True)
    assert abs(r.item() - sp) < 1e-12 and abs(f.item() - sp) < 1e-12
    r, f = average_terms("lsgan", c_r, c_f, True)
    assert r.item() == 0 and f.item() == 0
    r, f = average_terms("lsgan", c_r, c_f, False)
    assert r.item() == 4 and f.item() == 4
    assert pairwise_loss("hinge", c_r, c_f, True, check=False).item() == 0
    assert pairwise_loss("hinge", c_r, c_f, False, check=False).item() == 2
    # TF-GAN: the generator loss is the discriminator loss with the labels swapped.
    c_r, c_f = torch.tensor([[0.3], [-1.2]]), torch.tensor([[0.7], [0.1], [-0.4]])
    d = average_terms("vanilla", c_r, c_f, True)
    g = average_terms("vanilla", c_r, c_f, False)
    rr, ff = c_r - c_f.mean(), c_f - c_r.mean()
    assert abs(g[0].item() - bce(rr, 0.0).item()) < 1e-12 and abs(d[1].item() - bce(ff, 0.0).item()) < 1e-12


def main():
    check_closed_forms()
    write_cases(OUT_DIR, "relativistic.json", GENERATOR, relativistic_cases())


if __name__ == "__main__":
    main()
