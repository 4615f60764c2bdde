#!/usr/bin/env python3
"""Reference values for genloss's image-quality metrics (src/metrics/): MMagic's PSNR, SSIM and SWD.

An independent float64 torch/numpy implementation of MMagic's definitions (cv2, mmcv and MMagic
are not installed here):

- metrics_utils.img_transform: cast to float32; convert_to 'Y' as mmcv.rgb2ycbcr(img / 255,
  y_only=True) * 255 = dot(img / 255, [65.481, 128.553, 24.966]) + 16 (genloss's images are RGB;
  MMagic's metrics see BGR and use bgr2ycbcr, the same Y of the same picture); then crop_border
  pixels off each edge.
- psnr.psnr: mse over the transformed image, 20 * log10(255 / sqrt(mse)), inf when mse == 0.
- ssim._ssim / ssim.ssim: cv2.getGaussianKernel(11, 1.5) (for a given sigma, cv2 computes
  exp(-(i - 5)^2 / (2 sigma^2)) normalised), its outer product as the window, cv2.filter2D then
  [5:-5, 5:-5] (every border-touched pixel cropped: a 'valid' correlation, done here with conv2d),
  C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, the map's mean per channel, then the channels' mean.
- swd.py: (x - 127.5) / 127.5, grey repeated to 3 channels, laplacian_pyramid (the 5x5 binomial
  kernel / 256, conv2d padding 2 stride 2 down; nearest x2 then stride 1 up), resolutions h, h/2,
  ... while >= 16 (at most 4), get_descriptors_for_minibatch (x centres drawn before y centres,
  flat NCHW index), finalize_descriptors (per-channel mean and unbiased std), sliced_wasserstein
  (directions torch.randn(dims, dirs) with unit columns, sorted projections, mean |diff|), x 1e3,
  and the mean over levels (not rounded to 4 decimals as MMagic's result dict).

MMagic's random draws (np.random.randint for the patch centres, torch.randn for the directions)
are replaced by a procedural source that the test (test/metrics/procedural.ts) computes too, call
by call in MMagic's order, so that the TypeScript side can be fed the exact same draws. The
script checks that its SWD code, fed np.random / torch draws, equals MMagic's code path written
the way swd.py draws them.

Images are procedural too (exact integer hashes and float64 arithmetic rounded to float32, the
formula of test/metrics/procedural.ts), so a case stores the image specs, not the pixels.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_metrics.py

It rewrites test/reference/metrics.json deterministically.
"""

import math
import os

import numpy as np
import torch
import torch.nn.functional as F

from common import number, write_cases

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "test/reference/generate_metrics.py"
Y_WEIGHTS = [65.481, 128.553, 24.966]

torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------------------------------------
# Procedural images and draws (mirrored in test/metrics/procedural.ts).

def hash_unit(n, h, w, c, seed):
    """A value in [0, 1) from exact integer arithmetic (every intermediate < 2^53)."""
    v = (((n * 73 + h) * 179 + w) * 283 + c * 1019 + seed * 7919) % 65521
    return ((v * v + 12345) % 65521) / 65521.0


def image(shape_nhwc, spec):
    """NHWC float64 array of float32 values in [0, 255]: a diagonal ramp of period 32 (steps of 4)
    plus `amp` times hashed noise; `flat` makes the image the constant `flat`."""
    n_, h_, w_, c_ = shape_nhwc
    out = np.zeros(shape_nhwc, dtype=np.float64)
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    if spec.get("flat") is not None:
                        v = float(spec["flat"])
                    else:
                        ramp = ((h + w + 3 * n + 5 * c + spec["seed"]) % 32) * 4
                        v = ramp + hash_unit(n, h, w, c, spec["seed"]) * spec["amp"]
                    out[n, h, w, c] = v
    return out.astype(np.float32).astype(np.float64)


class Draws:
    """The procedural stand-in for np.random.randint and torch.randn: call k's i-th value."""

    def __init__(self):
        self.calls = 0

    def _unit(self, i, a, b):
        v = (i * 613 + self.calls * 3571 + a) % 65521
        return (v * v + b) % 65521

    def integers(self, count, low, high):
        out = np.array([low + self._unit(i, 101, 7) % (high - low) for i in range(count)], np.int64)
        self.calls += 1
        return out

    def normals(self, rows, cols):
        out = torch.tensor([self._unit(i, 211, 3) / 65521.0 * 2 - 1 for i in range(rows * cols)])
        self.calls += 1
        return out.reshape(rows, cols)


class NumpyTorchDraws:
    """MMagic's own draws: np.random.randint and torch.randn, seeded."""

    def __init__(self, seed):
        np.random.seed(seed)
        torch.manual_seed(seed)

    def integers(self, count, low, high):
        return np.random.randint(low, high, size=count)

    def normals(self, rows, cols):
        return torch.randn(rows, cols)


# ---------------------------------------------------------------------------------------------
# PSNR and SSIM (metrics_utils.img_transform, psnr.psnr, ssim.ssim), one HWC image at a time.

def img_transform(img, crop_border, convert_to):
    img = img.astype(np.float32)
    if convert_to is not None:
        assert convert_to.lower() == "y"
        img = (np.dot(img / 255.0, Y_WEIGHTS) + 16.0) / 255.0 * 255.0
        img = np.expand_dims(img, axis=2)
    if crop_border != 0:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    return img.astype(np.float64)


def psnr(img1, img2, crop_border, convert_to):
    img1 = img_transform(img1, crop_border, convert_to)
    img2 = img_transform(img2, crop_border, convert_to)
    mse = ((img1 - img2) ** 2).mean()
    return math.inf if mse == 0 else 20.0 * math.log10(255.0 / math.sqrt(mse))


def cv2_gaussian_kernel(ksize, sigma):
    i = np.arange(ksize, dtype=np.float64) - (ksize - 1) / 2.0
    g = np.exp(-(i ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def filter_valid(img, window):
    """cv2.filter2D(img, -1, window)[5:-5, 5:-5]: a 'valid' correlation with the 11x11 window."""
    x = torch.from_numpy(img).view(1, 1, *img.shape)
    k = torch.from_numpy(window).view(1, 1, *window.shape)
    return F.conv2d(x, k)[0, 0].numpy()


def ssim_channel(img1, img2):
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    g = cv2_gaussian_kernel(11, 1.5)
    window = np.outer(g, g)
    mu1 = filter_valid(img1, window)
    mu2 = filter_valid(img2, window)
    s11 = filter_valid(img1 ** 2, window) - mu1 ** 2
    s22 = filter_valid(img2 ** 2, window) - mu2 ** 2
    s12 = filter_valid(img1 * img2, window) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return ssim_map.mean()


def ssim(img1, img2, crop_border, convert_to):
    img1 = img_transform(img1, crop_border, convert_to)
    img2 = img_transform(img2, crop_border, convert_to)
    return float(np.mean([ssim_channel(img1[..., i], img2[..., i]) for i in range(img1.shape[2])]))


def psnr_ssim_case(cid, shape, pred, gt, crop_border=0, convert_to=None):
    p = image(shape, pred)
    g = image(shape, gt)
    psnrs = [psnr(p[n], g[n], crop_border, convert_to) for n in range(shape[0])]
    ssims = [ssim(p[n], g[n], crop_border, convert_to) for n in range(shape[0])]
    return {
        "id": cid,
        "type": "PSNR/SSIM",
        "shape": shape,
        "pred": pred,
        "gt": gt,
        "config": {"crop_border": crop_border, "convert_to": convert_to},
        # null: infinite (identical images), as MMagic's float('inf').
        "psnr": [None if math.isinf(v) else number(v) for v in psnrs],
        "ssim": [number(v) for v in ssims],
    }


# ---------------------------------------------------------------------------------------------
# SWD (swd.py), NCHW.

def gaussian_kernel():
    k = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float64) / 256.0
    return torch.from_numpy(k).view(1, 1, 5, 5)


def pyramid_layer(x, k, direction="down"):
    if direction == "up":
        x = F.interpolate(x, scale_factor=2)
    stride = 1 if direction == "up" else 2
    return torch.cat([F.conv2d(x[:, i:i + 1], k, padding=2, stride=stride) for i in range(3)], dim=1)


def laplacian_pyramid(x, n_pyramids, k):
    gaussians = [x]
    for _ in range(n_pyramids):
        gaussians.append(pyramid_layer(gaussians[-1], k))
    levels = [gaussians[i] - pyramid_layer(gaussians[i + 1], k, "up") for i in range(len(gaussians) - 1)]
    return levels + [gaussians[-1]]


def descriptors(level, nhood_size, nhoods_per_image, draws):
    s = level.shape
    n = nhoods_per_image * s[0]
    h = nhood_size // 2
    nhood, chan, x, y = np.ogrid[0:n, 0:3, -h:h + 1, -h:h + 1]
    img = nhood // nhoods_per_image
    x = x + draws.integers(n, h, s[3] - h).reshape(n, 1, 1, 1)
    y = y + draws.integers(n, h, s[2] - h).reshape(n, 1, 1, 1)
    idx = ((img * s[1] + chan) * s[2] + y) * s[3] + x
    return level.reshape(-1)[torch.from_numpy(idx)]


def finalize(desc):
    desc = torch.cat(desc, dim=0)
    desc = desc - desc.mean(dim=(0, 2, 3), keepdim=True)
    desc = desc / desc.std(dim=(0, 2, 3), keepdim=True)
    return desc.reshape(desc.shape[0], -1)


def sliced_wasserstein(a, b, dir_repeats, dirs_per_repeat, draws):
    results = []
    for _ in range(dir_repeats):
        dirs = draws.normals(a.shape[1], dirs_per_repeat).double()
        dirs = dirs / torch.sqrt(torch.sum(dirs ** 2, dim=0, keepdim=True))
        pa, _ = torch.sort(a @ dirs, dim=0)
        pb, _ = torch.sort(b @ dirs, dim=0)
        results.append(torch.mean(torch.abs(pa - pb)).item())
    return sum(results) / dir_repeats


class Swd:
    """MMagic's SlicedWassersteinDistance: process(real, fake) per batch, then compute."""

    def __init__(self, image_shape, draws, nhood_size=7, nhoods_per_image=128, dir_repeats=4, dirs_per_repeat=128):
        self.image_shape = image_shape
        self.draws = draws
        self.nhood_size, self.nhoods_per_image = nhood_size, nhoods_per_image
        self.dir_repeats, self.dirs_per_repeat = dir_repeats, dirs_per_repeat
        self.resolutions = []
        res = image_shape[1]
        while res >= 16 and len(self.resolutions) < 4:
            self.resolutions.append(res)
            res //= 2
        self.k = gaussian_kernel()
        self.real = [[] for _ in self.resolutions]
        self.fake = [[] for _ in self.resolutions]

    def add(self, store, imgs_nhwc):
        x = torch.from_numpy(imgs_nhwc).permute(0, 3, 1, 2)
        x = (x - 127.5) / 127.5
        assert tuple(x.shape[1:]) == tuple(self.image_shape)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        for lod, level in enumerate(laplacian_pyramid(x, len(self.resolutions) - 1, self.k)):
            store[lod].append(descriptors(level, self.nhood_size, self.nhoods_per_image, self.draws))

    def process(self, real, fake):
        self.add(self.real, real)
        self.add(self.fake, fake)

    def compute(self):
        fake = [finalize(d) for d in self.fake]
        real = [finalize(d) for d in self.real]
        dist = [
            1e3 * sliced_wasserstein(r, f, self.dir_repeats, self.dirs_per_repeat, self.draws)
            for r, f in zip(real, fake)
        ]
        return dist, float(np.mean(dist))


def swd_case(cid, shape, real, fake, batches, **options):
    """`batches` images per process call; real and fake NHWC `shape` (their N images in all)."""
    r = image(shape, real)
    f = image(shape, fake)
    metric = Swd((shape[3], shape[1], shape[2]), Draws(), **options)
    for start in range(0, shape[0], batches):
        metric.process(r[start:start + batches], f[start:start + batches])
    dist, avg = metric.compute()
    return {
        "id": cid,
        "type": "SWD",
        "shape": shape,
        "real": real,
        "fake": fake,
        "batch": batches,
        "options": options,
        "resolutions": metric.resolutions,
        "distances": [number(v) for v in dist],
        "avg": number(avg),
    }


def check_draw_order():
    """The injected-draw code path equals swd.py's own, which draws with np.random / torch."""
    shape = [2, 32, 32, 3]
    r = image(shape, {"seed": 1, "amp": 100})
    f = image(shape, {"seed": 2, "amp": 40})
    ours = Swd((3, 32, 32), NumpyTorchDraws(7))
    ours.process(r, f)
    mine = ours.compute()

    np.random.seed(7)
    torch.manual_seed(7)
    k = gaussian_kernel()
    descs = {"real": [[], []], "fake": [[], []]}
    for name, imgs in (("real", r), ("fake", f)):
        x = (torch.from_numpy(imgs).permute(0, 3, 1, 2) - 127.5) / 127.5
        for lod, level in enumerate(laplacian_pyramid(x, 1, k)):
            s = level.shape
            n = 128 * s[0]
            nhood, chan, xx, yy = np.ogrid[0:n, 0:3, -3:4, -3:4]
            img = nhood // 128
            xx = xx + np.random.randint(3, s[3] - 3, size=(n, 1, 1, 1))
            yy = yy + np.random.randint(3, s[2] - 3, size=(n, 1, 1, 1))
            idx = ((img * s[1] + chan) * s[2] + yy) * s[3] + xx
            descs[name][lod].append(level.reshape(-1)[torch.from_numpy(idx)])
    dist = []
    for lod in range(2):
        fd = finalize(descs["fake"][lod])
        rd = finalize(descs["real"][lod])
        res = []
        for _ in range(4):
            dirs = torch.randn(rd.shape[1], 128)
            dirs /= torch.sqrt(torch.sum(dirs ** 2, dim=0, keepdim=True))
            pa, _ = torch.sort(rd @ dirs, dim=0)
            pb, _ = torch.sort(fd @ dirs, dim=0)
            res.append(torch.mean(torch.abs(pa - pb)).item())
        dist.append(1e3 * sum(res) / 4)
    assert np.allclose(mine[0], dist, rtol=1e-12), (mine, dist)


def main():
    check_draw_order()
    a = {"seed": 1, "amp": 120}
    b = {"seed": 1, "amp": 90}
    c = {"seed": 5, "amp": 131}
    rgb = [2, 32, 32, 3]
    grey = [2, 24, 20, 1]
    cases = [
        psnr_ssim_case("rgb", rgb, a, b),
        psnr_ssim_case("rgb/crop4", rgb, a, b, crop_border=4),
        psnr_ssim_case("rgb/Y", rgb, a, b, convert_to="Y"),
        psnr_ssim_case("rgb/y/crop4", rgb, a, c, crop_border=4, convert_to="y"),
        psnr_ssim_case("rgb/unrelated", rgb, a, c),
        psnr_ssim_case("grey", grey, a, b),
        psnr_ssim_case("grey/crop4", grey, b, c, crop_border=4),
        psnr_ssim_case("identical", rgb, a, dict(a)),
        psnr_ssim_case("identical/Y/crop4", rgb, c, dict(c), crop_border=4, convert_to="Y"),
        psnr_ssim_case("flat-vs-texture", [1, 16, 16, 3], {"flat": 128}, b),
        psnr_ssim_case("smallest/11x11", [3, 11, 11, 3], a, b),
        psnr_ssim_case("smallest/19x21/crop4", [1, 19, 21, 1], a, b, crop_border=4),
        swd_case("32/rgb/2x2", [4, 32, 32, 3], {"seed": 3, "amp": 120}, {"seed": 4, "amp": 30}, 2),
        swd_case("32/rgb/one-batch", [4, 32, 32, 3], {"seed": 3, "amp": 120}, {"seed": 8, "amp": 120}, 4),
        swd_case("16/rgb", [3, 16, 16, 3], {"seed": 6, "amp": 100}, {"seed": 9, "amp": 131}, 3),
        swd_case("64/rgb", [2, 64, 64, 3], {"seed": 2, "amp": 110}, {"seed": 7, "amp": 60}, 1),
        swd_case("32/grey", [2, 32, 32, 1], {"seed": 3, "amp": 120}, {"seed": 4, "amp": 50}, 2),
        swd_case(
            "32x48/rgb/options",
            [3, 32, 48, 3],
            {"seed": 3, "amp": 80},
            {"seed": 4, "amp": 131},
            3,
            nhood_size=5,
            nhoods_per_image=16,
            dir_repeats=2,
            dirs_per_repeat=8,
        ),
    ]
    write_cases(OUT_DIR, "metrics.json", GENERATOR, cases)


if __name__ == "__main__":
    main()
