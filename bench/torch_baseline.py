"""PyTorch CPU baseline for `npm run bench` (bench/run.ts): MMagic's loss formulas (and the
peers' for the losses from other libraries: piq, kornia, Barron, the official focal frequency
loss, BasicSR, TF-GAN), same workloads and sizes as the TF.js side, NCHW; the conv workloads
also in channels_last (`name@channels_last`). Prints one JSON object on stdout:

    {"torch": version, "threads": n, "blas": {library, corename, mm_gflops, ...},
     "results": {workload: {"times_ms": [...]}}}

Run with Debian's interpreter, which has python3-torch: /usr/bin/python3 bench/torch_baseline.py
[--threads N] [--only name,name] [--iters-scale X]. Each workload discards its warm-up calls
(PyTorch's first one or two are several times slower) and times forward + backward + .item().
"""

import argparse
import ctypes
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


def discriminator(fmt):
    g = torch.Generator().manual_seed(0)

    def conv(cin, cout, k):
        w = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        return w.to(memory_format=fmt).requires_grad_(), torch.zeros(cout).requires_grad_()

    layers = [conv(3, 64, 4), conv(64, 128, 4), conv(128, 256, 4), conv(256, 1, 8)]

    def d(x):
        h = x
        for w, b in layers[:3]:
            h = F.leaky_relu(F.conv2d(h, w, b, stride=2, padding=1), 0.2)
        w, b = layers[3]
        return F.conv2d(h, w, b)

    params = [p for pair in layers for p in pair]
    return d, params


def penalty(kind, fmt):
    d, params = discriminator(fmt)
    g = torch.Generator().manual_seed(1)
    real = (torch.rand(16, 3, 64, 64, generator=g) * 2 - 1).to(memory_format=fmt)
    fake = (torch.rand(16, 3, 64, 64, generator=g) * 2 - 1).to(memory_format=fmt)

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


def perceptual(fmt):
    g = torch.Generator().manual_seed(0)
    weights = []
    cin = 3
    for v in VGG19:
        if v == "M":
            continue
        w = torch.randn(v, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        weights.append((w.to(memory_format=fmt), torch.zeros(v)))
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

    x = torch.rand(2, 3, 128, 128, generator=g).to(memory_format=fmt).requires_grad_()
    gt = torch.rand(2, 3, 128, 128, generator=g).to(memory_format=fmt)

    def step():
        fx = features(x)
        with torch.no_grad():
            fg = features(gt)
        value = sum(F.l1_loss(a, b) for a, b in zip(fx, fg))
        torch.autograd.grad(value, x)
        return value.item()

    return step


def robust(kind):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(16, 3, 256, 256, generator=g).mul_(2).sub_(1).requires_grad_()
    target = torch.rand(16, 3, 256, 256, generator=g).mul_(2).sub_(1)
    alpha, scale = 0.5, 0.1

    def loss():
        d = pred - target
        if kind == "cauchy":
            # kornia cauchy_loss, reduction='mean'
            return torch.log1p(0.5 * d * d).mean()
        # Barron's general loss with a fixed alpha and scale
        b = abs(alpha - 2)
        return (b / alpha * torch.expm1(alpha / 2 * torch.log1p((d / scale) ** 2 / b))).mean()

    def step():
        value = loss()
        torch.autograd.grad(value, pred)
        return value.item()

    return step


def gaussian_window(channels):
    coords = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-(coords ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, 11, 11).contiguous()


def ssim_per_channel(x, y, kernel):
    # piq _ssim_per_channel: grouped 'valid' conv2d with the 2-D window, k1 0.01, k2 0.03
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    c = x.size(1)
    mu_x = F.conv2d(x, kernel, groups=c)
    mu_y = F.conv2d(y, kernel, groups=c)
    mu_xx, mu_yy, mu_xy = mu_x ** 2, mu_y ** 2, mu_x * mu_y
    sigma_xx = F.conv2d(x * x, kernel, groups=c) - mu_xx
    sigma_yy = F.conv2d(y * y, kernel, groups=c) - mu_yy
    sigma_xy = F.conv2d(x * y, kernel, groups=c) - mu_xy
    cs = (2.0 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
    ss = (2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs
    return ss.mean(dim=(-1, -2)), cs.mean(dim=(-1, -2))


MS_WEIGHTS = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def ssim(multi_scale):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 256, 256, generator=g).requires_grad_()
    y = torch.rand(4, 3, 256, 256, generator=g)
    kernel = gaussian_window(3)
    weights = MS_WEIGHTS / MS_WEIGHTS.sum()

    def step():
        if not multi_scale:
            # piq SSIMLoss: 1 - ssim, mean over the images (256 px: no downsampling)
            value = 1 - ssim_per_channel(x, y, kernel)[0].mean(1).mean()
        else:
            # piq MultiScaleSSIMLoss; 256 halves evenly, so the replicate padding adds nothing
            a, b = x, y
            values = []
            for i in range(len(weights)):
                ss, cs = ssim_per_channel(a, b, kernel)
                values.append(ss if i == len(weights) - 1 else cs)
                a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
            stacked = torch.relu(torch.stack(values, 0))
            value = 1 - torch.prod(stacked ** weights.view(-1, 1, 1), 0).mean(1).mean()
        torch.autograd.grad(value, x)
        return value.item()

    return step


def focal_frequency():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(8, 3, 128, 128, generator=g).requires_grad_()
    target = torch.rand(8, 3, 128, 128, generator=g)

    def freq(x):
        f = torch.fft.fft2(x, norm="ortho")
        return torch.stack([f.real, f.imag], -1)

    def step():
        # the official FocalFrequencyLoss, alpha 1, patch_factor 1, the other switches off
        recon, real = freq(pred), freq(target)
        d2 = (recon - real) ** 2
        d2 = d2[..., 0] + d2[..., 1]
        with torch.no_grad():
            m = torch.sqrt(d2)
            m = m / m.amax(dim=(-2, -1), keepdim=True)
            m[torch.isnan(m)] = 0.0
            m = torch.clamp(m, 0.0, 1.0)
        value = (m * d2).mean()
        torch.autograd.grad(value, pred)
        return value.item()

    return step


def gan_feat():
    g = torch.Generator().manual_seed(0)

    def outputs():
        out = []
        for i in range(3):
            size = 64 >> i
            shapes = [(8, 64, size, size), (8, 128, size >> 1, size >> 1), (8, 256, size >> 2, size >> 2), (8, 1, size >> 2, size >> 2)]
            out.append([torch.randn(*s, generator=g) for s in shapes])
        return out

    fake, real = outputs(), outputs()
    leaves = [t.requires_grad_() for d in fake for t in d]

    def step():
        # BasicSR GANFeatLoss, criterion l1, loss_weight 1: the features, not the predictions
        value = sum(F.l1_loss(f, r.detach()) for fd, rd in zip(fake, real) for f, r in zip(fd[:-1], rd[:-1])) / 3
        torch.autograd.grad(value, leaves, allow_unused=True)
        return value.item()

    return step


def relativistic():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(16, 1, 30, 30, generator=g).requires_grad_()
    fake = torch.randn(16, 1, 30, 30, generator=g).requires_grad_()

    def step():
        # TF-GAN relativistic_discriminator_loss (RaSGAN)
        r = real - fake.mean()
        f = fake - real.mean()
        value = F.binary_cross_entropy_with_logits(r, torch.ones_like(r)) + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
        torch.autograd.grad(value, [real, fake])
        return value.item()

    return step


def minibatch_stddev(x, group_size):
    # StyleGAN2-ADA MinibatchStdLayer, one channel: per group of g samples, the std of each
    # feature over the group, averaged over C, H, W, appended as a constant channel.
    n, c, h, w = x.shape
    g = min(group_size, n)
    while n % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()
    y = y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


DEMO_INTERVAL = 8  # configs/demo.yaml: R1 every 8 discriminator steps; one timed unit is 8 steps


def demo(fmt):
    """configs/demo.yaml's training step (src/train/architectures.ts dcganGenerator and
    dcganDiscriminator; GANWithCustomizedLoss.trainStep): DCGAN G (z 64 → 4×4×64, three ×2
    nearest upsamplings + 3×3 convs 32/16/8, 3×3 conv to RGB, tanh), D (4×4/2 convs 16/32/64,
    minibatch stddev group 4, 3×3 conv 64, dense), batch 32 of 32×32 images. D step: hinge loss,
    disc shift 0.001·mean D(real)², R1 (pixel norm) ×4 every 8th step; Adam lr 5e-4, betas
    (0, 0.99) with StyleGAN2's lazy-regularisation correction (r = 8/9) on D. G step: −mean D(G(z)).
    Then the EMA of G (momentum 0.01). Times DEMO_INTERVAL steps (one R1 interval) per call."""
    torch.manual_seed(0)
    act = torch.nn.LeakyReLU(0.2)
    gen = torch.nn.Sequential(
        torch.nn.Linear(64, 4 * 4 * 64),
        torch.nn.Unflatten(1, (64, 4, 4)),
        act,
        *[m for cin, cout in [(64, 32), (32, 16), (16, 8)] for m in (torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(cin, cout, 3, padding=1), act)],
        torch.nn.Conv2d(8, 3, 3, padding=1),
        torch.nn.Tanh(),
    ).to(memory_format=fmt)

    class Mbstd(torch.nn.Module):
        def forward(self, x):
            return minibatch_stddev(x, 4)

    disc = torch.nn.Sequential(
        *[m for cin, cout in [(3, 16), (16, 32), (32, 64)] for m in (torch.nn.Conv2d(cin, cout, 4, stride=2, padding=1), act)],
        Mbstd(),
        torch.nn.Conv2d(65, 64, 3, padding=1),
        act,
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 4 * 4, 1),
    ).to(memory_format=fmt)
    ema = [p.detach().clone() for p in gen.parameters()]
    r = DEMO_INTERVAL / (DEMO_INTERVAL + 1)
    opt_d = torch.optim.Adam(disc.parameters(), lr=5e-4 * r, betas=(0.0, 0.99**r))
    opt_g = torch.optim.Adam(gen.parameters(), lr=5e-4, betas=(0.0, 0.99))
    data = (torch.rand(2048, 3, 32, 32) * 2 - 1).to(memory_format=fmt)
    state = {"iteration": 0}

    def one_step():
        real = data[torch.randint(0, 2048, (32,))].contiguous(memory_format=fmt)
        with torch.no_grad():
            fake = gen(torch.randn(32, 64))
        pred_fake, pred_real = disc(fake), disc(real)
        loss_d = F.relu(1 + pred_fake).mean() + F.relu(1 - pred_real).mean() + 0.001 * pred_real.square().mean()
        if state["iteration"] % DEMO_INTERVAL == 0:
            x = real.detach().requires_grad_()
            (grad,) = torch.autograd.grad(disc(x).sum(), x, create_graph=True)
            loss_d = loss_d + 4.0 * grad.pow(2).sum(1).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = -disc(gen(torch.randn(32, 64))).mean()
        grads = torch.autograd.grad(loss_g, list(gen.parameters()))
        for p, g in zip(gen.parameters(), grads):
            p.grad = g
        opt_g.step()
        with torch.no_grad():
            for e, p in zip(ema, gen.parameters()):
                e.mul_(0.99).add_(p, alpha=0.01)
        state["iteration"] += 1
        return loss_d.item()

    def step():
        for _ in range(DEMO_INTERVAL):
            value = one_step()
        return value

    return step


# The suffix of a conv workload timed in channels_last (NHWC) memory format: oneDNN's NHWC
# convolutions are several times faster than its NCHW ones on this CPU, so each conv workload is
# timed both ways and bench/run.ts takes the faster as PyTorch's number.
CHANNELS_LAST = "@channels_last"

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
    **{
        f"{name}{suffix}": ((lambda f=factory, m=fmt: f(m)), n, warmup, budget)
        for name, factory, n, warmup, budget in [
            ("wgan_gp_step", lambda m: penalty("gp", m), 5, 2, 20),
            ("r1_step", lambda m: penalty("r1", m), 5, 2, 20),
            ("perceptual_vgg19", perceptual, 5, 2, 20),
            ("demo_step", demo, 3, 1, 20),
        ]
        for suffix, fmt in [("", torch.contiguous_format), (CHANNELS_LAST, torch.channels_last)]
    },
    "ssim": (lambda: ssim(False), 3, 1, 10),
    "ms_ssim": (lambda: ssim(True), 3, 1, 10),
    "cauchy": (lambda: robust("cauchy"), 10, 2, 5),
    "general_robust": (lambda: robust("general"), 10, 2, 5),
    "focal_frequency": (focal_frequency, 5, 2, 10),
    "gan_feat": (gan_feat, 20, 2, 5),
    "relativistic_vanilla_patch": (relativistic, 50, 3, 3),
}


def blas_info(threads):
    """Which BLAS torch.mm runs on (the library mapped into this process; OpenBLAS's core name
    and config where it is OpenBLAS) and its measured GFLOP/s on 256×576 · 576×4096 (an
    im2col-sized product). Debian's torch links libblas.so.3, which update-alternatives points at
    the reference BLAS (a few GFLOP/s) or, with libopenblas0 installed, at OpenBLAS."""
    a, b = torch.randn(256, 576), torch.randn(576, 4096)
    torch.mm(a, b)
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    library = next((os.path.realpath(p) for p in libs if "libblas.so" in p or "openblas" in p), "none found")
    info = {"library": library}
    if "openblas" in library:
        lib = ctypes.CDLL(library)
        for key, fn in [("corename", "openblas_get_corename"), ("config", "openblas_get_config")]:
            getattr(lib, fn).restype = ctypes.c_char_p
            info[key] = getattr(lib, fn)().decode()
    times = timed(lambda: torch.mm(a, b), 10, 2, 5)
    info["mm_gflops"] = 2 * 256 * 576 * 4096 / (sorted(times)[len(times) // 2] / 1000) / 1e9
    info["env"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return info


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    only = [s for s in args.only.split(",") if s]
    results = {}
    blas = blas_info(args.threads)
    print(f"torch BLAS: {blas}", file=sys.stderr)
    for name, (factory, n, warmup, budget) in WORKLOADS.items():
        if only and name.removesuffix(CHANNELS_LAST) not in only:
            continue
        step = factory()
        results[name] = {"times_ms": timed(step, n, warmup, budget)}
        print(f"torch {name}: {sorted(results[name]['times_ms'])[len(results[name]['times_ms']) // 2]:.1f} ms", file=sys.stderr)
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
