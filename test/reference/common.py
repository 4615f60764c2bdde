"""Helpers shared by the reference generators: seeded float32 draws and the JSON they write.

Imported as `from common import ...`: each generator runs as a script from the repository root,
so its own folder is on `sys.path`.
"""

import json
import math
import os
import zlib

import torch
import torch.nn.functional as F


def gan_loss_term(gan_type, x, target_is_real, is_disc, label, hinge_check=None):
    """The unweighted GAN loss for the types MMagic's GANLoss and GANLossComps share: vanilla,
    lsgan, wgan, wgan-logistic-ns and hinge (ValueError for any other). `label` is the real or
    fake label value for `target_is_real`. `hinge_check(arg)`, if given, sees the discriminator's
    hinge argument (1 - x or 1 + x) before the relu."""
    if gan_type == "vanilla":
        return F.binary_cross_entropy_with_logits(x, torch.full_like(x, label))
    if gan_type == "lsgan":
        return ((x - label) ** 2).mean()
    if gan_type == "wgan":
        return -x.mean() if target_is_real else x.mean()
    if gan_type == "wgan-logistic-ns":
        return F.softplus(-x).mean() if target_is_real else F.softplus(x).mean()
    if gan_type == "hinge":
        if not is_disc:
            return -x.mean()
        arg = 1 - x if target_is_real else 1 + x
        if hinge_check is not None:
            hinge_check(arg)
        return F.relu(arg).mean()
    raise ValueError(gan_type)


class Rng:
    """Per-case float32 draws, returned as float64, seeded from a key (order independent)."""

    def __init__(self, key):
        self.g = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))

    def uniform(self, shape, lo=0.0, hi=1.0):
        u = torch.rand(shape, generator=self.g, dtype=torch.float32)
        return (u * (hi - lo) + lo).to(torch.float32).double()

    def normal(self, shape, std=1.0):
        return (torch.randn(shape, generator=self.g, dtype=torch.float32) * std).to(torch.float32).double()

    def mask(self, shape, empty_sample=None, p=0.6):
        """Binary 0/1 mask; every sample has some ones and some zeros (unless emptied)."""
        m = (torch.rand(shape, generator=self.g, dtype=torch.float32) < p).double()
        for n in range(shape[0]):
            flat = m[n].view(-1)
            flat[0] = 1.0
            flat[-1] = 0.0
        if empty_sample is not None:
            m[empty_sample] = 0.0
        return m

    def sized_mask(self, shape, sizes):
        """Binary 0/1 mask with exactly sizes[n] ones in sample n, at random places."""
        m = torch.zeros(shape, dtype=torch.float64)
        for n, size in enumerate(sizes):
            m[n].view(-1)[torch.randperm(m[n].numel(), generator=self.g)[:size]] = 1.0
        return m

    def weight(self, shape):
        """Positive random weights in [0.1, 2)."""
        return self.uniform(shape, 0.1, 2.0)


def number(x, digits=None):
    """A finite float, rounded to `digits` significant digits (None: every digit of the float64)."""
    v = float(x) if digits is None else float("%.*g" % (digits, float(x)))
    assert math.isfinite(v), "non-finite value"
    return v


def tensor_json(t, layout=None, digits=None):
    """A tensor as the tests read it: shape, layout ("NCHW" for 4-D unless given), flat row-major data."""
    t = torch.as_tensor(t, dtype=torch.float64).detach()
    if layout is None:
        layout = "NCHW" if t.dim() == 4 else "plain"
    return {"shape": list(t.shape), "layout": layout, "data": [number(v, digits) for v in t.reshape(-1).tolist()]}


def compact(value):
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def write_reference(path, head, lists, values=None):
    """Writes a reference file: `head` on the first line, then each of `values` on a line, then each
    list of `lists` one item a line (diffable and byte-for-byte deterministic). Returns the text."""
    text = json.dumps(head)[:-1]
    for key, value in (values or {}).items():
        text += ',\n"%s":%s' % (key, compact(value))
    for key, items in lists.items():
        text += ',\n"%s":[\n' % key + ",\n".join(compact(c) for c in items) + "\n]"
    text += "}\n"
    json.loads(text)  # sanity
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return text


def write_cases(out_dir, name, generator, cases, extra=None):
    """Writes `cases` (unique ids) and the `extra` values to `out_dir/name`, headed by the generator."""
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    head = {"generator": generator, "torch": torch.__version__}
    text = write_reference(os.path.join(out_dir, name), head, {"cases": cases}, extra)
    print(f"{name}: {len(cases)} cases, {len(text)} bytes")
