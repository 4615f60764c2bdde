#!/usr/bin/env python3
"""PyTorch reference values for genloss's focal frequency loss (src/losses/focal-frequency.ts).

An independent float64 implementation following the official code (EndlessSora/focal-frequency-loss,
`FocalFrequencyLoss`: `tensor2freq` with `torch.fft.fft2(norm='ortho')` on patch_factor x
patch_factor patches, `loss_formulation` with the detached spectrum weight, `alpha`,
`ave_spectrum`, `log_matrix`, `batch_matrix`, a given `matrix`). Inputs are NCHW float32 draws
(the tests transpose them to NHWC); outputs and gradients w.r.t. pred and target (and the given
matrix, whose gradient is zero: it is detached) are float64.

genloss's spectrum layout is N x P x h x w x C (x 2): a given `matrix` is written in that layout
(plain, 5-D or lower, broadcasting from the right) and permuted to the official N x P x C x h x w
here. `spectra` (an extra list) holds `tensor2freq` of a few inputs in genloss's
N x P x h x w x C x 2 layout, to check the DFT alone.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_focal_frequency.py

It rewrites test/reference/focal_frequency.json deterministically.
"""

import os

import torch

from common import Rng, tensor_json, write_cases
from generate import make_case

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_focal_frequency.py"

torch.set_default_dtype(torch.float64)


def tensor2freq(x, patch_factor):
    """The official tensor2freq: N x C x H x W -> N x P x C x h x w x 2."""
    _, _, h, w = x.shape
    assert h % patch_factor == 0 and w % patch_factor == 0
    ph, pw = h // patch_factor, w // patch_factor
    patches = [x[:, :, i * ph:(i + 1) * ph, j * pw:(j + 1) * pw]
               for i in range(patch_factor) for j in range(patch_factor)]
    y = torch.stack(patches, 1)
    freq = torch.fft.fft2(y, norm="ortho")
    return torch.stack([freq.real, freq.imag], -1)


def loss_formulation(recon, real, matrix, cfg):
    if matrix is not None:
        weight = matrix.detach()
    else:
        tmp = (recon - real) ** 2
        tmp = torch.sqrt(tmp[..., 0] + tmp[..., 1]) ** cfg.get("alpha", 1.0)
        if cfg.get("log_matrix", False):
            tmp = torch.log(tmp + 1.0)
        if cfg.get("batch_matrix", False):
            tmp = tmp / tmp.max()
        else:
            tmp = tmp / tmp.max(-1).values.max(-1).values[:, :, :, None, None]
        tmp[torch.isnan(tmp)] = 0.0
        tmp = torch.clamp(tmp, min=0.0, max=1.0)
        weight = tmp.clone().detach()
    tmp = (recon - real) ** 2
    dist = tmp[..., 0] + tmp[..., 1]
    return torch.mean(weight * dist)


def to_official(matrix):
    """genloss's N x P x h x w x C (or lower rank, from the right) -> N x P x C x h x w."""
    m = matrix.reshape((1,) * (5 - matrix.dim()) + tuple(matrix.shape))
    return m.permute(0, 1, 4, 2, 3)


def ffl(cfg, pred, target, matrix=None):
    pf = cfg.get("patch_factor", 1)
    p = tensor2freq(pred, pf)
    t = tensor2freq(target, pf)
    if cfg.get("ave_spectrum", False):
        p = torch.mean(p, 0, keepdim=True)
        t = torch.mean(t, 0, keepdim=True)
    m = None if matrix is None else to_official(matrix)
    return loss_formulation(p, t, m, cfg) * cfg.get("loss_weight", 1.0)


# (label, config)
VARIANTS = [
    ("default", {}),
    ("alpha2", {"alpha": 2.0}),
    ("alpha0.5", {"alpha": 0.5}),
    ("pf2", {"patch_factor": 2}),
    ("pf2-alpha2", {"patch_factor": 2, "alpha": 2.0}),
    ("ave", {"ave_spectrum": True}),
    ("log", {"log_matrix": True}),
    ("batch", {"batch_matrix": True}),
    ("pf2-log-batch", {"patch_factor": 2, "log_matrix": True, "batch_matrix": True}),
    ("ave-pf2-batch", {"ave_spectrum": True, "patch_factor": 2, "batch_matrix": True}),
    ("loss_weight", {"loss_weight": 0.5, "alpha": 2.0}),
    ("matrix", {"patch_factor": 2}),
    ("matrix-broadcast", {}),
    ("identical", {}),
    ("one-identical", {"patch_factor": 2}),
]

# (label, N, C, H, W)
SHAPES = [("rgb", 2, 3, 8, 6), ("grey", 2, 1, 6, 4)]


def cases():
    out = []
    for shape_label, n, c, h, w in SHAPES:
        for label, cfg in VARIANTS:
            cid = f"FocalFrequencyLoss/{shape_label}/{label}"
            rng = Rng(cid)
            pred = rng.uniform((n, c, h, w), -1.0, 1.0)
            target = rng.uniform((n, c, h, w), -1.0, 1.0)
            if label == "identical":
                target = pred.clone()
            if label == "one-identical":
                target[1] = pred[1]
            args = [("pred", pred), ("target", target)]
            pf = cfg.get("patch_factor", 1)
            if label == "matrix":
                args.append(("matrix", rng.uniform((n, pf * pf, h // pf, w // pf, c), 0.0, 1.5)))
            if label == "matrix-broadcast":
                args.append(("matrix", rng.uniform((h, w, 1), 0.0, 1.0)))
            out.append(make_case(
                cid, "FocalFrequencyLoss", cfg, args,
                lambda pred, target, matrix=None, _c=cfg: ffl(_c, pred, target, matrix),
                ["pred", "target", "matrix"], rng))
    return out


def spectra():
    out = []
    for shape_label, n, c, h, w in SHAPES + [("odd", 1, 2, 5, 7)]:
        for pf in [1, 2] if shape_label != "odd" else [1]:
            sid = f"tensor2freq/{shape_label}/pf={pf}"
            x = Rng(sid).uniform((n, c, h, w), -1.0, 1.0)
            freq = tensor2freq(x, pf).permute(0, 1, 3, 4, 2, 5)  # N x P x h x w x C x 2
            out.append({"id": sid, "patch_factor": pf, "x": tensor_json(x),
                        "freq": tensor_json(freq)})
    return out


def check_identities():
    """Parseval (the orthonormal DFT keeps the sum of squares) and alpha = 0 as the plain
    frequency-domain L2, which equals the pixel-domain MSE."""
    rng = Rng("identities")
    x = rng.uniform((2, 3, 8, 6), -1.0, 1.0)
    y = rng.uniform((2, 3, 8, 6), -1.0, 1.0)
    f = tensor2freq(x, 2)
    assert torch.allclose((f ** 2).sum(), (x ** 2).sum())
    l2 = ffl({"alpha": 0.0}, x, y)
    assert torch.allclose(l2, ((x - y) ** 2).mean()), (l2, ((x - y) ** 2).mean())
    assert float(ffl({}, x, x)) == 0.0
    print("focal frequency identities: OK")


def main():
    torch.manual_seed(0)
    check_identities()
    write_cases(OUT_DIR, "focal_frequency.json", GENERATOR, cases(), {"spectra": spectra()})


if __name__ == "__main__":
    main()
