"""PyTorch CPU baseline for `npm run bench` (bench/run.ts): MMagic's loss formulas, same
workloads and sizes as the TF.js side, NCHW. Prints one JSON object on stdout:

    {"torch": version, "threads": n, "results": {workload: {"times_ms": [...]}}}

Run with Debian's interpreter, which has python3-torch: /usr/bin/python3 bench/torch_baseline.py
[--threads N] [--only name,name] [--iters-scale X]. Each workload discards its warm-up calls
(PyTorch's first one or two are several times slower) and times forward + backward + .item().
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F


def timed(step, n, warmup, budget_s):
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < n and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def elementwise(kind, masked=False):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(16, 3, 256, 256, generator=g).mul_(2).sub_(1).requires_grad_()
    target = torch.rand(16, 3, 256, 256, generator=g).mul_(2).sub_(1)
    weight = (torch.rand(16, 1, 256, 256, generator=g) > 0.5).float() if masked else None

    def loss():
        d = pred - target
        if kind == "l1":
            e = d.abs()
        elif kind == "mse":
            e = d * d
        else:
            e = torch.sqrt(d * d + 1e-12)
        if weight is None:
            return e.mean()
        # MMagic mask_reduce_loss, 'mean': Σ(e·w) / (Σ w expanded to C + eps)
        return (e * weight).sum() / (weight.expand_as(e).sum() + 1e-12)

    def step():
        value = loss()
        (grad,) = torch.autograd.grad(value, pred)
        return value.item()

    return step


def sobel():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(16, 3, 256, 256, generator=g).requires_grad_()
    target = torch.rand(16, 3, 256, 256, generator=g)
    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    ky = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)

    def step():
        # MMagic GradientLoss: Sobel of pred and of target (per channel), L1 of each direction.
        px = F.conv2d(pred, kx, padding=1, groups=3)
        py = F.conv2d(pred, ky, padding=1, groups=3)
        tx = F.conv2d(target, kx, padding=1, groups=3)
        ty = F.conv2d(target, ky, padding=1, groups=3)
        value = (px - tx).abs().mean() + (py - ty).abs().mean()
        (grad,) = torch.autograd.grad(value, pred)
        return value.item()

    return step


def gan(gan_type, shape):
    g = torch.Generator().manual_seed(0)
    real = torch.randn(*shape, generator=g).requires_grad_()
    fake = torch.randn(*shape, generator=g).requires_grad_()

    def part(x, is_real):
        if gan_type == "vanilla":
            return F.binary_cross_entropy_with_logits(x, torch.full_like(x, 1.0 if is_real else 0.0))
        if gan_type == "lsgan":
            return F.mse_loss(x, torch.full_like(x, 1.0 if is_real else 0.0))
        if gan_type == "wgan":
            return -x.mean() if is_real else x.mean()
        if gan_type == "hinge":
            return F.relu(1 - x).mean() if is_real else F.relu(1 + x).mean()
        raise ValueError(gan_type)

    def step():
        value = part(real, True) + part(fake, False)
        torch.autograd.grad(value, [real, fake])
        return value.item()

    return step


def discriminator():
    g = torch.Generator().manual_seed(0)

    def conv(cin, cout, k):
        w = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        return w.requires_grad_(), torch.zeros(cout).requires_grad_()

    layers = [conv(3, 64, 4), conv(64, 128, 4), conv(128, 256, 4), conv(256, 1, 8)]

    def d(x):
        h = x
        for w, b in layers[:3]:
            h = F.leaky_relu(F.conv2d(h, w, b, stride=2, padding=1), 0.2)
        w, b = layers[3]
        return F.conv2d(h, w, b)

    params = [p for pair in layers for p in pair]
    return d, params


def penalty(kind):
    d, params = discriminator()
    g = torch.Generator().manual_seed(1)
    real = torch.rand(16, 3, 64, 64, generator=g) * 2 - 1
    fake = torch.rand(16, 3, 64, 64, generator=g) * 2 - 1

    def step():
        if kind == "gp":
            # MMagic gradient_penalty_loss, norm_mode='pixel'
            alpha = torch.rand(16, 1, 1, 1)
            x = (alpha * real + (1 - alpha) * fake).requires_grad_()
            (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
            value = ((grad.norm(2, dim=1) - 1) ** 2).mean()
        else:
            # MMagic r1_gradient_penalty_loss, norm_mode='pixel'
            x = real.clone().requires_grad_()
            (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
            value = grad.pow(2).sum(1).mean()
        torch.autograd.grad(value, params[:-1] if kind == "gp" else params[:-1])
        return value.item()

    return step


VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
TAPS = {3, 8, 17, 26, 35}  # relu1_2, relu2_2, relu3_4, relu4_4, relu5_4 (torchvision indices)


def perceptual():
    g = torch.Generator().manual_seed(0)
    weights = []
    cin = 3
    for v in VGG19:
        if v == "M":
            continue
        w = torch.randn(v, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        weights.append((w, torch.zeros(v)))
        cin = v
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def features(x):
        out = []
        h = (x - mean) / std
        index = 0
        k = 0
        for v in VGG19:
            if v == "M":
                h = F.max_pool2d(h, 2)
                index += 1
                continue
            w, b = weights[k]
            k += 1
            h = F.conv2d(h, w, b, padding=1)
            index += 1
            h = F.relu(h)
            if index in TAPS:
                out.append(h)
            index += 1
        return out

    x = torch.rand(2, 3, 128, 128, generator=g).requires_grad_()
    gt = torch.rand(2, 3, 128, 128, generator=g)

    def step():
        fx = features(x)
        with torch.no_grad():
            fg = features(gt)
        value = sum(F.l1_loss(a, b) for a, b in zip(fx, fg))
        torch.autograd.grad(value, x)
        return value.item()

    return step


# name → (factory, iterations, warm-up calls, time budget in s)
WORKLOADS = {
    "l1": (lambda: elementwise("l1"), 10, 2, 5),
    "mse": (lambda: elementwise("mse"), 10, 2, 5),
    "charbonnier": (lambda: elementwise("charbonnier"), 10, 2, 5),
    "charbonnier_masked": (lambda: elementwise("charbonnier", masked=True), 10, 2, 5),
    "sobel": (sobel, 5, 2, 10),
    **{
        f"gan_{t}_{label}": ((lambda t=t, s=shape: gan(t, s)), 50, 3, 3)
        for t in ["vanilla", "lsgan", "wgan", "hinge"]
        for label, shape in [("64x1", (64, 1)), ("patch", (16, 1, 30, 30))]
    },
    "wgan_gp_step": (lambda: penalty("gp"), 5, 2, 20),
    "r1_step": (lambda: penalty("r1"), 5, 2, 20),
    "perceptual_vgg19": (perceptual, 5, 2, 20),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    only = [s for s in args.only.split(",") if s]
    results = {}
    for name, (factory, n, warmup, budget) in WORKLOADS.items():
        if only and name not in only:
            continue
        step = factory()
        results[name] = {"times_ms": timed(step, n, warmup, budget)}
        print(f"torch {name}: {sorted(results[name]['times_ms'])[len(results[name]['times_ms']) // 2]:.1f} ms", file=sys.stderr)
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
