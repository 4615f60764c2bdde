#!/usr/bin/env python3
"""PyTorch reference values for genloss's perceptual and pretrained-feature losses.

Independent float64 re-implementation (not MMagic code) of MMagic's mmagic/models/losses/
perceptual_loss.py (PerceptualVGG / PerceptualLoss / TransferalPerceptualLoss),
feature_loss.py (LightCNNFeatureLoss), face_id_loss.py (FaceIdLoss with ArcFace IR-SE) and
clip_loss.py (CLIPLoss), of BasicSR's PerceptualLoss (basicsr/losses/basic_loss.py, layer names
of basicsr/archs/vgg_arch.py), and of the torch ops they need (bicubic resize, adaptive average
pooling, max-pool ceil mode). The networks are small random networks with the real layer
structure and parameter names but few channels; their weights are written, with PyTorch,
to safetensors files (by hand: 8-byte little-endian header length, JSON header, raw data),
so the TypeScript tests read them through genloss's own safetensors loader.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_perceptual.py

It rewrites test/reference/perceptual/*.json and *.safetensors deterministically.
"""

import json
import math
import os
import struct
import zlib
from functools import partial

import torch
import torch.nn.functional as F

from common import tensor_json

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "perceptual")
GENERATOR = "test/reference/generate_perceptual.py"
torch.set_default_dtype(torch.float64)


# ---------------------------------------------------------------------------
# I/O
# ---------------------------------------------------------------------------


def f32(t):
    """Round to float32 values, kept in float64."""
    return t.to(torch.float32).to(torch.float64)


def seed_of(name):
    return zlib.crc32(name.encode())


def rand(shape, name, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed_of(name))
    return f32(torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo)


def randn(shape, name, std=1.0):
    g = torch.Generator().manual_seed(seed_of(name))
    return f32(torch.randn(shape, generator=g, dtype=torch.float64) * std)


def write_safetensors(path, tensors, dtype="F32"):
    """Writes {name: tensor} as safetensors; float tensors as F32 (or F16), ints as I64."""
    header = {"__metadata__": {"format": "pt", "generator": GENERATOR}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype in (torch.int64, torch.int32):
            data = t.to(torch.int64).numpy().tobytes()
            dt = "I64"
        elif dtype == "F16":
            data = t.to(torch.float16).numpy().tobytes()
            dt = "F16"
        else:
            data = t.to(torch.float32).numpy().tobytes()
            dt = "F32"
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for b in blobs:
            fh.write(b)


# 9 significant digits: a short decimal that round-trips a float32 value (inputs).
enc = partial(tensor_json, digits=9)


def write_json(name, cases, extra=None):
    doc = {"generator": GENERATOR, "torch": torch.__version__, "cases": cases}
    if extra:
        doc.update(extra)
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as fh:
        # One case per line keeps the files diffable; biome ignores test/reference/**/*.json.
        fh.write('{"generator": %s, "torch": %s,\n"cases": [\n' % (json.dumps(GENERATOR), json.dumps(torch.__version__)))
        fh.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        fh.write("\n]}\n")
    print("wrote", path, len(cases), "cases")


# ---------------------------------------------------------------------------
# Torch-compatible ops (F.interpolate bicubic, F.adaptive_avg_pool2d, F.max_pool2d), float64
# ---------------------------------------------------------------------------


def grads_of(fn, args, names, cot=None):
    """Output of fn(*args) and grads of sum(out * cot) (or out itself if scalar) wrt named args."""
    args = [a.clone().requires_grad_(True) if isinstance(a, torch.Tensor) else a for a in args]
    out = fn(*args)
    total = out if cot is None else (out * cot).sum()
    wanted = [args[i] for i in names.values()]
    gs = torch.autograd.grad(total, wanted, allow_unused=True)
    return out.detach(), {k: (g if g is not None else torch.zeros_like(a)) for k, g, a in zip(names, gs, wanted)}


def ops_cases():
    cases = []

    def add(case_id, op, params, x, fn):
        out = fn(x)
        cot = rand(out.shape, case_id + "/cot", -1, 1)
        out, g = grads_of(fn, [x], {"x": 0}, cot)
        cases.append({"id": case_id, "type": op, "config": params, "args": [{"name": "x", "tensor": enc(x)}],
                      "output": enc(out), "cotangent": enc(cot), "grads": {"x": enc(g["x"])}})

    for (h, w), (oh, ow) in [((4, 5), (8, 10)), ((5, 7), (9, 4)), ((8, 8), (3, 5)), ((3, 3), (12, 12))]:
        x = rand((2, 2, h, w), f"bicubic/{h}x{w}", -1, 1)
        add(f"bicubic/{h}x{w}->{oh}x{ow}", "resizeBicubic", {"size": [oh, ow]}, x,
            lambda t, s=(oh, ow): F.interpolate(t, size=s, mode="bicubic", align_corners=False))
    for (h, w), (oh, ow) in [((7, 10), (3, 4)), ((5, 6), (12, 9)), ((19, 11), (7, 7)), ((6, 6), (6, 6))]:
        x = rand((2, 2, h, w), f"adaptive/{h}x{w}", -1, 1)
        add(f"adaptive_avg/{h}x{w}->{oh}x{ow}", "adaptiveAvgPool2d", {"size": [oh, ow]}, x,
            lambda t, s=(oh, ow): F.adaptive_avg_pool2d(t, s))
    for (h, w), k, s, ceil in [((5, 7), 2, 2, True), ((6, 6), 2, 2, True), ((7, 9), 3, 2, True), ((7, 9), 2, 2, False), ((8, 5), 3, 3, True)]:
        x = rand((2, 2, h, w), f"maxpool/{h}x{w}/{k}/{s}", -1, 1)
        add(f"maxpool/{h}x{w}/k{k}s{s}/ceil={ceil}", "maxPool2d", {"kernel": k, "stride": s, "ceil_mode": ceil}, x,
            lambda t, k=k, s=s, c=ceil: F.max_pool2d(t, k, s, ceil_mode=c))
    write_json("ops.json", cases)


# ---------------------------------------------------------------------------
# VGG (perceptual_loss.py: PerceptualVGG, PerceptualLoss)
# ---------------------------------------------------------------------------

VGG_CFG = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# The small "VGG-shaped" widths: torchvision's 64/128/256/512 become these.
SMALL = {64: 4, 128: 6, 256: 8, 512: 8}


def vgg_layers(kind):
    layers = []
    for v in VGG_CFG[kind]:
        if v == "M":
            layers.append(("pool",))
        else:
            layers.append(("conv", SMALL[v]))
            layers.append(("relu",))
    return layers


def vgg_weights(kind):
    sd = {}
    cin = 3
    for i, layer in enumerate(vgg_layers(kind)):
        if layer[0] == "conv":
            cout = layer[1]
            sd[f"features.{i}.weight"] = randn((cout, cin, 3, 3), f"{kind}/{i}/w", math.sqrt(2.0 / (9 * cin)))
            sd[f"features.{i}.bias"] = randn((cout,), f"{kind}/{i}/b", 0.1)
            cin = cout
    return sd


def vgg_features(kind, sd, x, taps):
    out = {}
    h = x
    last = max(int(t) for t in taps)
    for i, layer in enumerate(vgg_layers(kind)[: last + 1]):
        if layer[0] == "conv":
            h = F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1)
        elif layer[0] == "relu":
            h = F.relu(h)
        else:
            h = F.max_pool2d(h, 2, 2)
        if str(i) in taps:
            out[str(i)] = h
    return out


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def gram(f):
    n, c, h, w = f.shape
    fr = f.reshape(n, c, h * w)
    return fr.bmm(fr.transpose(1, 2)) / (c * h * w)


def crit(a, b, kind):
    return (a - b).abs().mean() if kind == "l1" else ((a - b) ** 2).mean()


def perceptual(cfg, sd, x, gt):
    """Returns (percep or None, style or None), as MMagic's PerceptualLoss.forward."""
    kind = cfg.get("vgg_type", "vgg19")
    lw = cfg["layer_weights"]
    lws = cfg.get("layer_weights_style") or lw
    criterion = cfg.get("criterion", "l1")
    if cfg.get("norm_img", True):
        x, gt = (x + 1) / 2, (gt + 1) / 2
    if cfg.get("use_input_norm", True):
        x, gt = (x - MEAN) / STD, (gt - MEAN) / STD
    taps = set(lw) | set(lws)
    fx = vgg_features(kind, sd, x, taps)
    fg = vgg_features(kind, sd, gt.detach(), taps)
    pw, sw = cfg.get("perceptual_weight", 1.0), cfg.get("style_weight", 1.0)
    percep = sum(crit(fx[k], fg[k], criterion) * w for k, w in lw.items()) * pw if pw > 0 else None
    style = sum(crit(gram(fx[k]), gram(fg[k]), criterion) * w for k, w in lws.items()) * sw if sw > 0 else None
    return percep, style


# BasicSR's layer names (basicsr/archs/vgg_arch.py NAMES), in torchvision's `features` order.
BASICSR_NAMES = {
    "vgg16": ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
              "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "pool3", "conv4_1", "relu4_1", "conv4_2",
              "relu4_2", "conv4_3", "relu4_3", "pool4", "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3",
              "pool5"],
    "vgg19": ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
              "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4", "pool3", "conv4_1",
              "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4", "pool4", "conv5_1", "relu5_1",
              "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4", "pool5"],
}


def perceptual_basicsr(cfg, sd, x, gt):
    """Returns (percep or None, style or None), as BasicSR's PerceptualLoss.forward
    (basicsr/losses/basic_loss.py, VGGFeatureExtractor of basicsr/archs/vgg_arch.py): layer keys
    are BasicSR names or torchvision indices; criterion l1, l2 (MSE) or fro (torch.norm p='fro'
    of the whole batch tensor); range_norm maps [-1, 1] to [0, 1]; style uses layer_weights."""
    kind = cfg["vgg_type"]
    lw = cfg["layer_weights"]
    index = {k: (int(k) if k.isdigit() else BASICSR_NAMES[kind].index(k)) for k in lw}
    if cfg["range_norm"]:
        x, gt = (x + 1) / 2, (gt + 1) / 2
    if cfg.get("use_input_norm", True):
        x, gt = (x - MEAN) / STD, (gt - MEAN) / STD
    taps = {str(i) for i in index.values()}
    fx = vgg_features(kind, sd, x, taps)
    fg = vgg_features(kind, sd, gt.detach(), taps)

    def dist(a, b):
        if cfg["criterion"] == "fro":
            return torch.norm(a - b, p="fro")
        return crit(a, b, "l1" if cfg["criterion"] == "l1" else "mse")

    pw, sw = cfg["perceptual_weight"], cfg["style_weight"]
    percep = sum(dist(fx[str(index[k])], fg[str(index[k])]) * w for k, w in lw.items()) * pw if pw > 0 else None
    style = sum(dist(gram(fx[str(index[k])]), gram(fg[str(index[k])])) * w for k, w in lw.items()) * sw if sw > 0 else None
    return percep, style


def basicsr_perceptual_cases():
    # (vgg, BasicSR config, size, gt = x). Every BasicSR key is given: its defaults (style_weight 0,
    # range_norm false) are not genloss's (MMagic's style_weight 1, norm_img true).
    configs = [
        # ESRGAN (options/train/ESRGAN): conv5_4, l1, [0, 1] images.
        ("vgg19", {"layer_weights": {"conv5_4": 1.0}, "perceptual_weight": 1.0, "style_weight": 0.0,
                   "range_norm": False, "criterion": "l1"}, 32, False),
        # GFPGAN: five conv layers, style 50, range_norm.
        ("vgg19", {"layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0},
                   "perceptual_weight": 1.0, "style_weight": 50.0, "range_norm": True, "criterion": "l1"}, 16, False),
        ("vgg19", {"layer_weights": {"pool1": 1.0, "relu3_2": 0.5}, "perceptual_weight": 1.0, "style_weight": 2.0,
                   "range_norm": True, "criterion": "fro"}, 16, False),
        ("vgg16", {"layer_weights": {"conv3_3": 1.0, "relu4_3": 0.5, "pool5": 0.2}, "perceptual_weight": 0.7,
                   "style_weight": 3.0, "use_input_norm": False, "range_norm": False, "criterion": "fro"}, 32, False),
        ("vgg16", {"layer_weights": {"relu2_2": 1.0, "conv4_1": 0.3}, "perceptual_weight": 1.0, "style_weight": 0.0,
                   "range_norm": True, "criterion": "l2"}, 16, False),
        # A negative weight disables its part in BasicSR (`if weight > 0`), as a zero one does.
        ("vgg19", {"layer_weights": {"conv4_1": 1.0}, "perceptual_weight": -1.0, "style_weight": 10.0,
                   "range_norm": True, "criterion": "fro"}, 16, False),
        # torchvision indices with fro; norm_img given too, equal to range_norm.
        ("vgg19", {"layer_weights": {"2": 1.0, "7": 0.5}, "perceptual_weight": 1.0, "style_weight": 5.0,
                   "range_norm": True, "norm_img": True, "criterion": "fro"}, 16, False),
        # x = gt: fro is 0 with a zero gradient (PyTorch's norm backward masks ‖0‖).
        ("vgg19", {"layer_weights": {"relu2_1": 1.0, "conv3_1": 1.0}, "perceptual_weight": 1.0, "style_weight": 1.0,
                   "range_norm": True, "criterion": "fro"}, 16, True),
    ]
    cases = []
    for kind, cfg, size, same in configs:
        cfg = dict(cfg, vgg_type=kind, pretrained=f"torchvision://{kind}")
        sd = vgg_weights(kind)
        cid = (f"PerceptualLoss/BasicSR/{kind}/" + ",".join(cfg["layer_weights"]) +
               f"/{cfg['criterion']}/pw={cfg['perceptual_weight']}/sw={cfg['style_weight']}/{size}" + ("/x=gt" if same else ""))
        lo = -1.0 if cfg["range_norm"] else 0.0
        n = 2 if size == 16 else 1
        x = rand((n, 3, size, size), cid + "/x", lo, 1.0)
        gt = x.clone() if same else rand((n, 3, size, size), cid + "/gt", lo, 1.0)
        xr = x.clone().requires_grad_(True)
        percep, style = perceptual_basicsr(cfg, sd, xr, gt)
        outputs, grads = [], []
        for part in (percep, style):
            if part is None:
                outputs.append(None)
                grads.append(None)
            else:
                (g,) = torch.autograd.grad(part, [xr], retain_graph=True)
                outputs.append(enc(part.detach()))
                grads.append(enc(g))
        case = {"id": cid, "type": "PerceptualLoss", "config": cfg, "weights": f"{kind}_small.safetensors",
                "args": [{"name": "x", "tensor": enc(x)}, {"name": "gt", "tensor": enc(gt)}],
                "outputs": outputs, "grads": {"x": grads}}
        if cfg["criterion"] == "fro" and percep is not None and not same and kind == "vgg19":
            # Second order: the gradient of sum((d percep / dx)^2) w.r.t. x.
            xr2 = x.clone().requires_grad_(True)
            p2, _ = perceptual_basicsr(dict(cfg, style_weight=0.0), sd, xr2, gt)
            (g1,) = torch.autograd.grad(p2, [xr2], create_graph=True)
            (g2,) = torch.autograd.grad((g1 ** 2).sum(), [xr2])
            case["grads2"] = {"x": enc(g2)}
        cases.append(case)
    return cases


def perceptual_cases():
    cases = []
    for kind in ("vgg16", "vgg19"):
        write_safetensors(os.path.join(OUT_DIR, f"{kind}_small.safetensors"), vgg_weights(kind))
    configs = [
        ("vgg19", {"layer_weights": {"34": 1.0}}, 32),
        ("vgg19", {"layer_weights": {"1": 1.0, "6": 1.0, "11": 1.0, "20": 1.0, "29": 1.0},
                   "layer_weights_style": {"8": 1.0, "17": 1.0, "26": 1.0, "31": 1.0},
                   "perceptual_weight": 0.1, "style_weight": 250.0}, 16),
        ("vgg19", {"layer_weights": {"2": 0.5, "7": 1.0, "16": 2.0}, "criterion": "mse", "norm_img": False,
                   "use_input_norm": False, "style_weight": 0.0}, 16),
        ("vgg19", {"layer_weights": {"4": 1.0, "9": 0.5}, "perceptual_weight": 0.0, "style_weight": 2.0,
                   "criterion": "mse"}, 16),
        ("vgg16", {"layer_weights": {"4": 1.0, "9": 1.0, "16": 1.0}, "perceptual_weight": 0.05,
                   "style_weight": 120.0}, 16),
        ("vgg16", {"layer_weights": {"2": 1.0, "10": 0.3, "30": 1.0}, "criterion": "mse"}, 32),
    ]
    for kind, cfg, size in configs:
        cfg = dict(cfg, vgg_type=kind, pretrained=f"torchvision://{kind}")
        sd = vgg_weights(kind)
        cid = f"PerceptualLoss/{kind}/" + ",".join(sorted(cfg["layer_weights"])) + f"/{cfg.get('criterion', 'l1')}/{size}"
        lo = -1.0 if cfg.get("norm_img", True) else 0.0
        n = 2 if len(cases) == 1 else 1
        x = rand((n, 3, size, size), cid + "/x", lo, 1.0)
        gt = rand((n, 3, size, size), cid + "/gt", lo, 1.0)
        xr = x.clone().requires_grad_(True)
        percep, style = perceptual(cfg, sd, xr, gt)
        outputs, grads = [], []
        for part in (percep, style):
            if part is None:
                outputs.append(None)
                grads.append(None)
            else:
                (g,) = torch.autograd.grad(part, [xr], retain_graph=True)
                outputs.append(enc(part.detach()))
                grads.append(enc(g))
        case = {"id": cid, "type": "PerceptualLoss", "config": cfg, "weights": f"{kind}_small.safetensors",
                "args": [{"name": "x", "tensor": enc(x)}, {"name": "gt", "tensor": enc(gt)}],
                "outputs": outputs, "grads": {"x": grads}}
        if cfg.get("criterion") == "mse" and percep is not None and size == 16:
            # Second order: the gradient of sum((d percep / dx)^2) w.r.t. x (an R1-like penalty).
            xr2 = x.clone().requires_grad_(True)
            p2, _ = perceptual(dict(cfg, style_weight=0.0), sd, xr2, gt)
            (g1,) = torch.autograd.grad(p2, [xr2], create_graph=True)
            (g2,) = torch.autograd.grad((g1 ** 2).sum(), [xr2])
            case["grads2"] = {"x": enc(g2)}
        cases.append(case)
    # TransferalPerceptualLoss (perceptual_loss.py): no network.
    for use_attention, levels, criterion, w in [(True, 3, "mse", 1.0), (True, 2, "l1", 0.5), (False, 4, "mse", 1e-2), (False, 2, "l1", 1.0)]:
        cid = f"TransferalPerceptualLoss/attention={str(use_attention).lower()}/levels={levels}/{criterion}"
        n, h, w0 = 2, 2, 3
        maps = [rand((n, 2, h * 2 ** i, w0 * 2 ** i), f"{cid}/map{i}", -1, 1) for i in range(levels)]
        texs = [rand((n, 2, h * 2 ** i, w0 * 2 ** i), f"{cid}/tex{i}", -1, 1) for i in range(levels)]
        soft = rand((n, 1, h, w0), f"{cid}/soft", -2, 2)

        def fn(*args, levels=levels, use_attention=use_attention, criterion=criterion, w=w):
            ms, s, ts = list(args[:levels]), args[levels], list(args[levels + 1:])
            if use_attention:
                softs = [torch.sigmoid(s)] + [F.interpolate(s, size=(h * 2 ** i, w0 * 2 ** i), mode="bicubic", align_corners=False) for i in range(1, levels)]
            else:
                softs = [1.0, 1.0, 1.0]
            total = 0
            for m, sf, t in zip(ms, softs, ts):
                total = total + crit(m * sf, t * sf, criterion)
            return total * w

        args = maps + [soft] + texs
        names = {f"maps{i}": i for i in range(levels)}
        names["soft_attention"] = levels
        names.update({f"textures{i}": levels + 1 + i for i in range(levels)})
        out, g = grads_of(fn, args, names)
        cases.append({"id": cid, "type": "TransferalPerceptualLoss",
                      "config": {"use_attention": use_attention, "criterion": criterion, "loss_weight": w},
                      "args": [{"name": k, "tensor": enc(args[i])} for k, i in names.items()],
                      "output": enc(out), "grads": {k: enc(v) for k, v in g.items()}})
    write_json("perceptual.json", cases + basicsr_perceptual_cases())


# ---------------------------------------------------------------------------
# LightCNN (feature_loss.py, mmagic/models/editors/dic/light_cnn.py; DIC)
# ---------------------------------------------------------------------------

# (features index, out channels, kernel, padding); None is a 2x2 ceil-mode max-pool.
LIGHTCNN = [(0, 48, 5, 2), None, (2, 48, 1, 0), (3, 96, 3, 1), None, (5, 96, 1, 0), (6, 192, 3, 1), None,
            (8, 192, 1, 0), (9, 128, 3, 1), (10, 128, 1, 0), (11, 128, 3, 1), None]
LIGHTCNN_SMALL = {48: 4, 96: 6, 192: 8, 128: 6}


def lightcnn_weights():
    sd = {}
    cin = 3
    for layer in LIGHTCNN:
        if layer is None:
            continue
        i, out, k, _ = layer
        out = LIGHTCNN_SMALL[out]
        sd[f"features.{i}.filter.weight"] = randn((2 * out, cin, k, k), f"lightcnn/{i}/w", math.sqrt(2.0 / (k * k * cin)))
        sd[f"features.{i}.filter.bias"] = randn((2 * out,), f"lightcnn/{i}/b", 0.1)
        cin = out
    # The classifier of LightCNN(3) is in the checkpoint too; the loss does not use it.
    sd["classifier.0.filter.weight"] = randn((4, 8 * 8 * cin), "lightcnn/cls0", 0.01)
    sd["classifier.0.filter.bias"] = randn((4,), "lightcnn/cls0b", 0.01)
    return sd


def lightcnn_features(sd, x):
    h = x
    for layer in LIGHTCNN:
        if layer is None:
            h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        else:
            i, _, _, p = layer
            y = F.conv2d(h, sd[f"features.{i}.filter.weight"], sd[f"features.{i}.filter.bias"], padding=p)
            a, b = torch.chunk(y, 2, dim=1)
            h = torch.max(a, b)
    return h


def lightcnn_cases():
    sd = lightcnn_weights()
    write_safetensors(os.path.join(OUT_DIR, "lightcnn_small.safetensors"), sd)
    cases = []
    for criterion, w, (h, wd) in [("l1", 1.0, (20, 20)), ("mse", 0.1, (17, 13))]:
        cid = f"LightCNNFeatureLoss/{criterion}/w={w}/{h}x{wd}"
        pred = rand((2, 3, h, wd), cid + "/pred", -1, 1)
        gt = rand((2, 3, h, wd), cid + "/gt", -1, 1)

        def fn(p, g, criterion=criterion, w=w):
            return crit(lightcnn_features(sd, p), lightcnn_features(sd, g).detach(), criterion) * w

        out, g = grads_of(fn, [pred, gt], {"pred": 0})
        feats = lightcnn_features(sd, pred)
        pr = pred.clone().requires_grad_(True)
        (g1,) = torch.autograd.grad(fn(pr, gt), [pr], create_graph=True)
        (g2,) = torch.autograd.grad((g1 ** 2).sum(), [pr])
        cases.append({"grads2": {"pred": enc(g2)}, "id": cid, "type": "LightCNNFeatureLoss",
                      "config": {"pretrained": "lightcnn_small.safetensors", "criterion": criterion, "loss_weight": w},
                      "weights": "lightcnn_small.safetensors",
                      "args": [{"name": "pred", "tensor": enc(pred)}, {"name": "gt", "tensor": enc(gt)}],
                      "features": enc(feats), "output": enc(out), "grads": {"pred": enc(g["pred"])}})
    return cases


# ---------------------------------------------------------------------------
# Face identity (face_id_loss.py): ArcFace IR-SE backbone, small
# ---------------------------------------------------------------------------

# A small IR-SE: IR-SE50's structure (input layer, bottleneck_IR_SE units in 4 stages whose first
# unit has stride 2, output layer BN2d-Flatten-Linear-BN1d, l2 norm) with stage depths 16/24/32/48
# (SE reduction 16), units [1, 2, 1, 1] instead of [3, 4, 14, 3], and a 16-d embedding.
IRSE_STAGES = [(16, 1), (24, 2), (32, 1), (48, 1)]
IRSE_STEM = 16
IRSE_EMBED = 16


def bn_params(sd, key, c, name):
    sd[f"{key}.weight"] = f16(1 + randn((c,), name + "/g", 0.1))
    sd[f"{key}.bias"] = f16(randn((c,), name + "/b", 0.1))
    sd[f"{key}.running_mean"] = f16(randn((c,), name + "/m", 0.1))
    sd[f"{key}.running_var"] = f16(1 + rand((c,), name + "/v", 0.0, 0.5))
    sd[f"{key}.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)


def f16(t):
    return t.to(torch.float16).to(torch.float64)


def irse_units():
    units = []
    cin = IRSE_STEM
    for depth, n in IRSE_STAGES:
        for j in range(n):
            units.append((cin, depth, 2 if j == 0 else 1))
            cin = depth
    return units


def arcface_weights():
    sd = {}
    sd["input_layer.0.weight"] = f16(randn((IRSE_STEM, 3, 3, 3), "irse/in", math.sqrt(2 / 27)))
    bn_params(sd, "input_layer.1", IRSE_STEM, "irse/in_bn")
    sd["input_layer.2.weight"] = f16(0.25 + randn((IRSE_STEM,), "irse/in_prelu", 0.05))
    for k, (cin, depth, _) in enumerate(irse_units()):
        key = f"body.{k}"
        if cin != depth:
            sd[f"{key}.shortcut_layer.0.weight"] = f16(randn((depth, cin, 1, 1), key + "/sc", math.sqrt(1 / cin)))
            bn_params(sd, f"{key}.shortcut_layer.1", depth, key + "/sc_bn")
        bn_params(sd, f"{key}.res_layer.0", cin, key + "/bn0")
        sd[f"{key}.res_layer.1.weight"] = f16(randn((depth, cin, 3, 3), key + "/c1", math.sqrt(2 / (9 * cin))))
        sd[f"{key}.res_layer.2.weight"] = f16(0.25 + randn((depth,), key + "/prelu", 0.05))
        sd[f"{key}.res_layer.3.weight"] = f16(randn((depth, depth, 3, 3), key + "/c3", math.sqrt(1 / (9 * depth))))
        bn_params(sd, f"{key}.res_layer.4", depth, key + "/bn4")
        sd[f"{key}.res_layer.5.fc1.weight"] = f16(randn((depth // 16, depth, 1, 1), key + "/fc1", math.sqrt(2 / depth)))
        sd[f"{key}.res_layer.5.fc2.weight"] = f16(randn((depth, depth // 16, 1, 1), key + "/fc2", 1.0))
    c = IRSE_STAGES[-1][0]
    bn_params(sd, "output_layer.0", c, "irse/out_bn")
    sd["output_layer.3.weight"] = f16(randn((IRSE_EMBED, c * 7 * 7), "irse/fc", math.sqrt(1 / (c * 49))))
    sd["output_layer.3.bias"] = f16(randn((IRSE_EMBED,), "irse/fc_b", 0.1))
    bn_params(sd, "output_layer.4", IRSE_EMBED, "irse/out_bn1d")
    return sd


def bn(x, sd, key):
    return F.batch_norm(x, sd[f"{key}.running_mean"], sd[f"{key}.running_var"], sd[f"{key}.weight"], sd[f"{key}.bias"], False, 0.0, 1e-5)


def arcface(sd, x):
    h = F.prelu(bn(F.conv2d(x, sd["input_layer.0.weight"], padding=1), sd, "input_layer.1"), sd["input_layer.2.weight"])
    for k, (cin, depth, stride) in enumerate(irse_units()):
        key = f"body.{k}"
        if cin == depth:
            short = F.max_pool2d(h, 1, stride)
        else:
            short = bn(F.conv2d(h, sd[f"{key}.shortcut_layer.0.weight"], stride=stride), sd, f"{key}.shortcut_layer.1")
        r = bn(h, sd, f"{key}.res_layer.0")
        r = F.conv2d(r, sd[f"{key}.res_layer.1.weight"], padding=1)
        r = F.prelu(r, sd[f"{key}.res_layer.2.weight"])
        r = F.conv2d(r, sd[f"{key}.res_layer.3.weight"], stride=stride, padding=1)
        r = bn(r, sd, f"{key}.res_layer.4")
        se = F.adaptive_avg_pool2d(r, 1)
        se = torch.sigmoid(F.conv2d(F.relu(F.conv2d(se, sd[f"{key}.res_layer.5.fc1.weight"])), sd[f"{key}.res_layer.5.fc2.weight"]))
        h = r * se + short
    h = bn(h, sd, "output_layer.0")
    h = F.linear(h.flatten(1), sd["output_layer.3.weight"], sd["output_layer.3.bias"])
    h = F.batch_norm(h, sd["output_layer.4.running_mean"], sd["output_layer.4.running_var"], sd["output_layer.4.weight"], sd["output_layer.4.bias"], False, 0.0, 1e-5)
    return h / torch.norm(h, 2, 1, True)


def arcface_extract(sd, x):
    if x.shape[2] != 256:
        x = F.adaptive_avg_pool2d(x, (256, 256))
    x = x[:, :, 35:223, 32:220]
    x = F.adaptive_avg_pool2d(x, (112, 112))
    return arcface(sd, x)


def face_cases():
    sd = arcface_weights()
    write_safetensors(os.path.join(OUT_DIR, "arcface_small.safetensors"), sd, dtype="F16")
    cases = []
    for (h, wd), w in [((24, 24), 1.0), ((24, 20), 2.5)]:
        cid = f"FaceIdLoss/ArcFace/{h}x{wd}/w={w}"
        n = 2 if h == wd else 1
        pred = rand((n, 3, h, wd), cid + "/pred", -1, 1)
        gt = rand((n, 3, h, wd), cid + "/gt", -1, 1)

        def fn(p, g, w=w):
            fp = arcface_extract(sd, p)
            fg = arcface_extract(sd, g).detach()
            return (1 - (fp * fg).sum(1)).mean() * w

        out, g = grads_of(fn, [pred, gt], {"pred": 0})
        cases.append({"id": cid, "type": "FaceIdLoss",
                      "config": {"loss_weight": w, "facenet": {"type": "ArcFace", "ir_se50_weights": "arcface_small.safetensors"}},
                      "weights": "arcface_small.safetensors",
                      "args": [{"name": "pred", "tensor": enc(pred)}, {"name": "gt", "tensor": enc(gt)}],
                      "features": enc(arcface_extract(sd, pred)), "output": enc(out), "grads": {"pred": enc(g["pred"])}})
    return cases


# ---------------------------------------------------------------------------
# CLIP (clip_loss.py): a small CLIP with Hugging Face CLIPModel's parameter names
# ---------------------------------------------------------------------------

CLIP_V = dict(width=16, layers=2, heads=2, patch=8, image=32, mlp=32)
CLIP_T = dict(width=16, layers=2, heads=2, vocab=64, ctx=77, mlp=32)
CLIP_EMBED = 8


def clip_weights():
    sd = {}

    def dense(name, out, inp, std=None):
        sd[f"{name}.weight"] = randn((out, inp), name + "/w", std or math.sqrt(1 / inp))
        sd[f"{name}.bias"] = randn((out,), name + "/b", 0.05)

    def norm(name, width):
        sd[f"{name}.weight"] = 1 + randn((width,), name + "/g", 0.1)
        sd[f"{name}.bias"] = randn((width,), name + "/b", 0.1)

    def layers(prefix, cfg):
        w = cfg["width"]
        for i in range(cfg["layers"]):
            p = f"{prefix}.encoder.layers.{i}"
            norm(f"{p}.layer_norm1", w)
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                dense(f"{p}.self_attn.{proj}", w, w)
            norm(f"{p}.layer_norm2", w)
            dense(f"{p}.mlp.fc1", cfg["mlp"], w)
            dense(f"{p}.mlp.fc2", w, cfg["mlp"])

    v, t = CLIP_V, CLIP_T
    grid = v["image"] // v["patch"]
    sd["vision_model.embeddings.class_embedding"] = randn((v["width"],), "clip/cls", 0.5)
    sd["vision_model.embeddings.patch_embedding.weight"] = randn((v["width"], 3, v["patch"], v["patch"]), "clip/patch", math.sqrt(1 / (3 * v["patch"] ** 2)))
    sd["vision_model.embeddings.position_embedding.weight"] = randn((grid * grid + 1, v["width"]), "clip/vpos", 0.5)
    sd["vision_model.embeddings.position_ids"] = torch.arange(grid * grid + 1).unsqueeze(0)
    norm("vision_model.pre_layrnorm", v["width"])
    layers("vision_model", v)
    norm("vision_model.post_layernorm", v["width"])
    sd["visual_projection.weight"] = randn((CLIP_EMBED, v["width"]), "clip/vproj", math.sqrt(1 / v["width"]))
    sd["text_model.embeddings.token_embedding.weight"] = randn((t["vocab"], t["width"]), "clip/tok", 0.5)
    sd["text_model.embeddings.position_embedding.weight"] = randn((t["ctx"], t["width"]), "clip/tpos", 0.5)
    sd["text_model.embeddings.position_ids"] = torch.arange(t["ctx"]).unsqueeze(0)
    layers("text_model", t)
    norm("text_model.final_layer_norm", t["width"])
    sd["text_projection.weight"] = randn((CLIP_EMBED, t["width"]), "clip/tproj", math.sqrt(1 / t["width"]))
    sd["logit_scale"] = torch.tensor(4.6052)
    return {k: (f32(x) if x.is_floating_point() else x) for k, x in sd.items()}


def clip_encoder(sd, prefix, h, cfg, mask=None):
    n, l, d = h.shape
    heads = cfg["heads"]
    hd = d // heads
    for i in range(cfg["layers"]):
        p = f"{prefix}.encoder.layers.{i}"
        lin = lambda x, name: F.linear(x, sd[f"{p}.{name}.weight"], sd[f"{p}.{name}.bias"])
        ln = lambda x, name: F.layer_norm(x, (d,), sd[f"{p}.{name}.weight"], sd[f"{p}.{name}.bias"], 1e-5)
        y = ln(h, "layer_norm1")
        q = (lin(y, "self_attn.q_proj") * hd ** -0.5).view(n, l, heads, hd).transpose(1, 2)
        k = lin(y, "self_attn.k_proj").view(n, l, heads, hd).transpose(1, 2)
        v = lin(y, "self_attn.v_proj").view(n, l, heads, hd).transpose(1, 2)
        scores = q @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        attn = torch.softmax(scores, -1) @ v
        h = h + lin(attn.transpose(1, 2).reshape(n, l, d), "self_attn.out_proj")
        z = lin(ln(h, "layer_norm2"), "mlp.fc1")
        h = h + lin(z * torch.sigmoid(1.702 * z), "mlp.fc2")
    return h


def clip_image(sd, x):
    v = CLIP_V
    d = v["width"]
    p = F.conv2d(x, sd["vision_model.embeddings.patch_embedding.weight"], stride=v["patch"])
    tokens = p.flatten(2).transpose(1, 2)
    cls = sd["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, d)
    h = torch.cat([cls, tokens], 1) + sd["vision_model.embeddings.position_embedding.weight"]
    h = F.layer_norm(h, (d,), sd["vision_model.pre_layrnorm.weight"], sd["vision_model.pre_layrnorm.bias"], 1e-5)
    h = clip_encoder(sd, "vision_model", h, v)
    pooled = F.layer_norm(h[:, 0], (d,), sd["vision_model.post_layernorm.weight"], sd["vision_model.post_layernorm.bias"], 1e-5)
    return pooled @ sd["visual_projection.weight"].t()


def clip_text(sd, ids):
    t = CLIP_T
    d = t["width"]
    h = sd["text_model.embeddings.token_embedding.weight"][ids] + sd["text_model.embeddings.position_embedding.weight"]
    mask = torch.full((t["ctx"], t["ctx"]), float("-inf")).triu(1)
    h = clip_encoder(sd, "text_model", h, t, mask)
    h = F.layer_norm(h, (d,), sd["text_model.final_layer_norm.weight"], sd["text_model.final_layer_norm.bias"], 1e-5)
    pooled = h[torch.arange(h.shape[0]), ids.argmax(-1)]
    return pooled @ sd["text_projection.weight"].t()


def clip_cases():
    sd = clip_weights()
    write_safetensors(os.path.join(OUT_DIR, "clip_small.safetensors"), sd)
    cases = []
    # Token rows as clip.tokenize lays them out: start (62), words, end (63, the highest id), zeros.
    ids = torch.zeros((3, 77), dtype=torch.int64)
    for r, words in enumerate([[5, 9, 11], [7], [20, 21, 22, 23, 24, 25]]):
        row = [62] + words + [63]
        ids[r, : len(row)] = torch.tensor(row)
    for in_size, scale, n, w in [(32, 7, 2, 1.0), (32, 3, 1, 0.5)]:
        cid = f"CLIPLoss/in_size={in_size}/scale_factor={scale}/w={w}"
        image = rand((n, 3, in_size, in_size), cid + "/image", -1, 1)
        k = scale * in_size // 32

        def fn(img, w=w, k=k, scale=scale):
            x = F.avg_pool2d(F.interpolate(img, scale_factor=scale, mode="nearest"), k)
            i = clip_image(sd, x)
            t = clip_text(sd, ids)
            i = i / i.norm(dim=-1, keepdim=True)
            t = t / t.norm(dim=-1, keepdim=True)
            logits = sd["logit_scale"].exp() * i @ t.t()
            return (1 - logits / 100) * w

        out = fn(image)
        cot = rand(out.shape, cid + "/cot", -1, 1)
        out, g = grads_of(fn, [image], {"image": 0}, cot)
        cases.append({"id": cid, "type": "CLIPLoss",
                      "config": {"loss_weight": w, "clip_model": {"in_size": in_size, "scale_factor": scale, "pool_size": 32,
                                                                  "vision_heads": 2, "text_heads": 2}},
                      "weights": "clip_small.safetensors",
                      "args": [{"name": "image", "tensor": enc(image)}, {"name": "text", "tensor": enc(ids.to(torch.float64))}],
                      "output": enc(out), "cotangent": enc(cot), "grads": {"image": enc(g["image"])}})
    return cases


if __name__ == "__main__":
    os.makedirs(OUT_DIR, exist_ok=True)
    ops_cases()
    perceptual_cases()
    write_json("features.json", lightcnn_cases() + face_cases() + clip_cases())
