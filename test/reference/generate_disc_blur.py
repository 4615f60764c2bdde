#!/usr/bin/env python3
"""PyTorch reference values for StyleGAN3's discriminator-input blur (genloss src/models/disc-blur.ts).

Independent float64 implementation (not NVIDIA's code) of StyleGAN3's training/loss.py:
`StyleGAN2Loss.accumulate_gradients`' schedule

    blur_sigma = max(1 - cur_nimg / (blur_fade_kimg * 1e3), 0) * blur_init_sigma  if blur_fade_kimg > 0 else 0

and `run_D`'s blur: `blur_size = floor(3 sigma)`; when it is > 0 the 1-D filter
`f[i] = 2^(-(i / sigma)^2)`, i = -blur_size..blur_size, normalised to sum 1, applied by
`upfirdn2d.filter2d` (a separable filter along W and H, zero padding of blur_size on each side,
so the output has the input's size; the filter is symmetric, so flipping does not matter). Here
the two passes are grouped conv2d calls on a zero-padded input.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_disc_blur.py

It rewrites test/reference/disc_blur.json deterministically.
"""

import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from common import Rng, number, tensor_json, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_disc_blur.py"
SHAPE_NHWC = (2, 9, 7, 3)
SIGMAS = [0.3, 0.5, 1.0, 2.7, 10.0]


def blur_filter(sigma):
    blur_size = np.floor(sigma * 3)
    f = torch.arange(-blur_size, blur_size + 1, dtype=torch.float64).div(sigma).square().neg().exp2()
    return f / f.sum(), int(blur_size)


def blur(x, sigma):
    """x: N x C x H x W float64."""
    blur_size = np.floor(sigma * 3)
    if blur_size <= 0:
        return x
    f, k = blur_filter(sigma)
    c = x.shape[1]
    x = F.pad(x, [k, k, k, k])
    x = F.conv2d(x, f.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # along W
    return F.conv2d(x, f.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # along H


def blur_sigma(iteration, batch, init, fade_kimg):
    cur_nimg = iteration * batch
    return max(1 - cur_nimg / (fade_kimg * 1e3), 0) * init if fade_kimg > 0 else 0


SCHEDULE = [
    (0, 4, 10, 1),
    (100, 4, 10, 1),
    (249, 4, 10, 1),
    (250, 4, 10, 1),
    (300, 4, 10, 1),
    (7, 3, 2, 0.05),
    (3, 2, 2, 0.01),
    (5, 2, 2, 0.01),
    (10, 8, 10, 0),
    (10, 8, 0, 5),
    (1000, 32, 10, 200),
]


def check_closed_forms():
    # A constant image away from the borders stays constant; the filter sums to 1.
    for sigma in SIGMAS[1:]:
        f, k = blur_filter(sigma)
        assert abs(float(f.sum()) - 1) < 1e-15 and f.numel() == 2 * k + 1
    x = torch.ones(1, 1, 40, 40, dtype=torch.float64)
    assert torch.allclose(blur(x, 1.0)[..., 10:30, 10:30], torch.ones(20, 20, dtype=torch.float64))
    # exp2 form: sigma is the distance where the tap halves.
    f, k = blur_filter(2.0)
    assert abs(float(f[k + 2] / f[k]) - 0.5) < 1e-15
    assert blur_sigma(0, 4, 10, 1) == 10 and blur_sigma(250, 4, 10, 1) == 0


def main():
    check_closed_forms()
    cases = []
    for sigma in SIGMAS:
        rng = Rng("disc_blur/%g" % sigma)
        n, h, w, c = SHAPE_NHWC
        x = rng.uniform((n, c, h, w), -1.0, 1.0).requires_grad_(True)
        y = blur(x, sigma)
        cot = rng.normal(tuple(y.shape))
        (grad,) = torch.autograd.grad((y * cot).sum(), [x])
        f, k = blur_filter(sigma)
        cases.append(
            {
                "id": "sigma=%g" % sigma,
                "sigma": sigma,
                "blur_size": k,
                "filter": [number(v) for v in f.tolist()] if k > 0 else [],
                "x": tensor_json(x),
                "output": tensor_json(y),
                "cotangent": tensor_json(cot),
                "grad": tensor_json(grad),
            }
        )
    schedule = [
        {"iteration": i, "batch_size": b, "blur_init_sigma": s, "blur_fade_kimg": fk, "sigma": number(blur_sigma(i, b, s, fk))}
        for i, b, s, fk in SCHEDULE
    ]
    write_cases(OUT_DIR, "disc_blur.json", GENERATOR, cases, {"schedule": schedule})
    print("schedule: %d values" % len(schedule))


if __name__ == "__main__":
    main()
