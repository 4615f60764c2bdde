#!/usr/bin/env python3
"""PyTorch reference values for genloss's GAN model: parse_losses and full D+G train steps.

Independent float64 re-implementation (not MMagic code) of MMagic's mmagic/models/losses/
loss_comps/gan_loss_comps.py (GANLossComps), loss_comps/disc_auxiliary_loss_comps.py
(DiscShiftLossComps, GradientPenaltyLossComps, R1GradientPenaltyComps),
loss_comps/gen_auxiliary_loss_comps.py (GeneratorPathRegularizerComps, MMagic's non-detached
EMA), with their data_info and intervals, of mmengine's BaseModel.parse_losses
(mmengine/model/base_model/base_model.py) and of BaseGAN's D phase then G phase
(mmagic/models/base_models/base_gan.py, train_step), in the order of operations of
src/models/gan-with-customized-loss.ts (GANWithCustomizedLoss.trainStep):

1. D phase, every iteration: fake = G(mapping(N)) without gradient to G;
   loss_disc_fake = gan(D(fake), False, is_disc=True), loss_disc_real = gan(D(real), True,
   is_disc=True), then the disc_auxiliary_loss components in config order (None skipped, equal
   names summed); parse_losses; one optimizer step on D.
2. G phase, when (iteration + 1) % discriminator_steps == 0, generator_steps times, with the
   updated D frozen: fresh mapping(N) draw, loss_disc_fake_g = gan(D(G(z)), True, is_disc=False)
   (loss_weight applies), then the gen_auxiliary_loss components; parse_losses; one step on G.
   The logged generator values are averaged over the generator steps and their 'loss' dropped.

All random draws are injected: `mapping(n)` pops latents from a per-step queue (D phase, each G
step, and each path-regulariser call in call order), the GP's alpha and the path regulariser's
noise come from extra inputs of trainStep. Inputs and initial weights are float32 draws, seeded
from the case id; everything is computed in float64.

Run from the repository root:

    /usr/bin/python3 test/reference/generate_model.py

It rewrites test/reference/model.json deterministically. Every tensor is stored in the layout the
TypeScript side uses ("plain"): images N x H x W x C, conv kernels HWIO, linear in x out.
"""

import math
import os
from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F

from common import Rng, gan_loss_term, number, tensor_json, write_reference

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.json")
GENERATOR = "test/reference/generate_model.py"

torch.set_default_dtype(torch.float64)

tj = partial(tensor_json, layout="plain", digits=10)
num = partial(number, digits=10)


# ---------------------------------------------------------------------------
# mmengine BaseModel.parse_losses (mmengine/model/base_model/base_model.py)
# ---------------------------------------------------------------------------


def parse_losses(losses):
    """losses: list of (key, tensor | list of tensors). Returns (total, [(key, value)...])."""
    log = []
    for key, value in losses:
        if isinstance(value, torch.Tensor):
            log.append((key, value.mean()))
        elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
            log.append((key, sum(v.mean() for v in value)))
        else:
            raise TypeError(key)
    total = sum(v for k, v in log if "loss" in k)
    if not isinstance(total, torch.Tensor):
        total = torch.tensor(float(total))
    return total, [("loss", total)] + log


def parse_cases():
    specs = [
        ("scalars/acc-logged-only", [
            ("loss_a", (), None), ("loss_b", (), None), ("acc", (), None)]),
        ("unreduced-and-lists", [
            ("loss_shift", (3, 1), None),
            ("loss_map", (2, 3, 3, 1), None),
            ("loss_list", [(), (2, 2), (3,)], None),
            ("top1_acc", (3,), None),
            ("loss_single", [(2, 4, 4, 3)], None)]),
        ("loss-anywhere-case-sensitive-double-count", [
            ("loss_a", (2,), None), ("loss_b", (), None),
            ("disc_losses", (2, 2), None), ("real_loss", (), None), ("cycle_loss", (4,), None),
            ("Loss_upper", (), None), ("lossy", (), None),
            ("loss_total", (), "sum:loss_a,loss_b")]),
        ("no-loss-key", [("acc", (2,), None), ("psnr", (), None)]),
    ]
    cases = []
    for cid, items in specs:
        rng = Rng("parse_losses/" + cid)
        built = OrderedDict()
        for key, shape, how in items:
            if how is not None:
                parts = how.split(":")[1].split(",")
                built[key] = sum(built[p].mean() for p in parts)
                built[key] = built[key].float().double()  # a float32-representable input
            elif isinstance(shape, list):
                built[key] = [rng.uniform(s, -2.0, 2.0) for s in shape]
            else:
                built[key] = rng.uniform(shape, -2.0, 2.0)
        total, log = parse_losses(list(built.items()))
        cases.append({
            "id": cid,
            "losses": [[k, [tj(t) for t in v] if isinstance(v, list) else tj(v)] for k, v in built.items()],
            "total": num(total),
            "log_vars": [[k, num(v)] for k, v in log],
        })
    return cases


# ---------------------------------------------------------------------------
# Tiny networks (the TypeScript test writes the same with TF.js ops)
# ---------------------------------------------------------------------------

H = W = 8          # image size
C = 3
L, S = 2, 4        # latent n x L x S
KINK_MARGIN = 1e-5  # pre-activations of leaky ReLU / hinge arguments must stay this far from 0
margins = []
ADAM_MARGIN = 3e-4  # |g_i| / max|g| of every Adam-updated tensor


def d_apply(p, x):
    """x: N x H x W x C -> N x 1. conv3x3/2 'same' (3->4) + b, lrelu 0.2, conv3x3/1 'same' (4->4)
    + b, lrelu 0.2, spatial mean, linear 4->1 + b. TF's 'same' with stride 2 on 8x8 pads 0 before
    and 1 after."""
    h = x.permute(0, 3, 1, 2)
    h = F.conv2d(F.pad(h, (0, 1, 0, 1)), p["d.c1.w"].permute(3, 2, 0, 1), p["d.c1.b"], stride=2)
    margins.append(h.detach().abs().min().item())
    h = F.leaky_relu(h, 0.2)
    h = F.conv2d(h, p["d.c2.w"].permute(3, 2, 0, 1), p["d.c2.b"], padding=1)
    margins.append(h.detach().abs().min().item())
    h = F.leaky_relu(h, 0.2)
    h = h.mean(dim=(2, 3))
    return h @ p["d.fc.w"] + p["d.fc.b"]


def g_synthesis(p, lat):
    """lat: n x L x S -> n x 8 x 8 x 3: flatten, linear 8->48 + b, tanh, reshape n x 4 x 4 x 3,
    nearest x2."""
    n = lat.shape[0]
    h = torch.tanh(lat.reshape(n, L * S) @ p["g.fc.w"] + p["g.fc.b"]).reshape(n, 4, 4, C)
    return h.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)


D_SPECS = [("d.c1.w", (3, 3, C, 4), 0.4), ("d.c1.b", (4,), 0.1), ("d.c2.w", (3, 3, 4, 4), 0.4),
           ("d.c2.b", (4,), 0.1), ("d.fc.w", (4, 1), 4.0), ("d.fc.b", (1,), 0.5)]
G_SPECS = [("g.fc.w", (L * S, H * W * C // 4), 0.5), ("g.fc.b", (H * W * C // 4,), 0.1)]


def init(rng, specs):
    return OrderedDict((name, rng.uniform(shape, -s, s).requires_grad_(True)) for name, shape, s in specs)


# ---------------------------------------------------------------------------
# Losses and data_info components (MMagic's mmagic/models/losses/loss_comps/)
# ---------------------------------------------------------------------------


def check_hinge(arg):
    """Records the hinge argument's distance from the kink; rejects a draw with no active term."""
    margins.append(arg.detach().abs().min().item())
    if not (arg > 0).any():
        raise Reject("a hinge term with no active element")


def gan_comps(cfg, x, target_is_real, is_disc):
    label = cfg.get("real_label_val", 1.0) if target_is_real else cfg.get("fake_label_val", 0.0)
    loss = gan_loss_term(cfg["gan_type"], x, target_is_real, is_disc, label, hinge_check=check_hinge)
    return loss if is_disc else loss * cfg.get("loss_weight", 1.0)


def input_grad(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    return torch.autograd.grad(y.sum(), x, create_graph=True)[0]


def gradient_penalty(D, real, fake, alpha, norm_mode):
    x = (alpha * real + (1.0 - alpha) * fake).detach()
    g = input_grad(D, x)  # N x H x W x C
    if norm_mode == "pixel":
        norm = (g ** 2).sum(3).sqrt()
    else:
        norm = (g ** 2).reshape(g.shape[0], -1).sum(1).sqrt()
    return ((norm - 1) ** 2).mean()


def r1_penalty(D, real, norm_mode):
    g = input_grad(D, real)
    n, h, w, _ = g.shape
    if norm_mode == "pixel":
        return (g ** 2).sum() / (n * h * w)
    return (g ** 2).reshape(n, -1).sum(1).mean()


class Component:
    def __init__(self, cfg):
        self.cfg = cfg
        self.type = cfg["type"]
        self.w = cfg.get("loss_weight", 1.0)
        self.data_info = cfg["data_info"]
        self.interval = cfg.get("interval", 1)
        self.name = cfg.get("loss_name", {
            "DiscShiftLossComps": "loss_disc_shift",
            "GradientPenaltyLossComps": "loss_gp",
            "R1GradientPenaltyComps": "loss_r1_gp",
            "GeneratorPathRegularizerComps": "loss_path_regular",
        }[self.type])
        self.mean_path_length = torch.tensor(0.0)

    def __call__(self, outputs):
        if self.interval > 1 and outputs["iteration"] % self.interval != 0:
            return None
        a = {arg: outputs[key] for arg, key in self.data_info.items()}
        if self.type == "DiscShiftLossComps":
            return a["x"] ** 2 * self.w
        if self.type == "GradientPenaltyLossComps":
            return self.w * gradient_penalty(a["discriminator"], a["real_data"], a["fake_data"],
                                             a["alpha"], self.cfg.get("norm_mode", "pixel"))
        if self.type == "R1GradientPenaltyComps":
            return self.w * r1_penalty(a["discriminator"], a["real_data"], self.cfg.get("norm_mode", "pixel"))
        if self.type == "GeneratorPathRegularizerComps":
            return self.w * self.path_regularizer(a["generator"], a["num_batches"], a["noise"])
        raise ValueError(self.type)

    def path_regularizer(self, gen, num_batches, noise):
        shrink = self.cfg.get("pl_batch_shrink", 1)
        n = max(1, num_batches // shrink) if shrink > 1 else num_batches
        if self.cfg.get("pl_batch_size") is not None:
            n = self.cfg["pl_batch_size"]
        decay = self.cfg.get("decay", 0.01)
        lat = gen.mapping(n).detach().requires_grad_(True)
        img = gen.synthesis(lat)
        assert noise.shape == img.shape, (noise.shape, img.shape)
        _, h, w, _ = img.shape
        g = torch.autograd.grad((img * (noise / math.sqrt(h * w))).sum(), lat, create_graph=True)[0]
        pl = ((g ** 2).sum(2).mean(1)).sqrt()
        previous = self.mean_path_length
        pm = previous + decay * (pl.mean() - previous)  # not detached (MMagic)
        self.mean_path_length = pm.detach()
        return ((pl - pm) ** 2).mean()


class Gen:
    def __init__(self, params, queue):
        self.p = params
        self.queue = queue

    def mapping(self, n):
        z = self.queue.pop(0)
        assert z.shape[0] == n, (z.shape, n)
        return z

    def synthesis(self, lat):
        return g_synthesis(self.p, lat)


def make_optimizer(cfg, params, ratio):
    if cfg["type"] == "Adam":
        b1, b2 = cfg["betas"]
        return torch.optim.Adam(params, lr=cfg["lr"] * ratio, betas=(b1 ** ratio, b2 ** ratio),
                                eps=cfg.get("eps", 1e-8))
    if cfg["type"] == "SGD":
        return torch.optim.SGD(params, lr=cfg["lr"] * ratio, momentum=cfg.get("momentum", 0.0))
    raise ValueError(cfg["type"])


def lazy_ratio(comps):
    k = max([1] + [c.interval for c in comps])
    return k / (k + 1) if k > 1 else 1.0


def add_components(losses, comps, outputs):
    for comp in comps:
        v = comp(outputs)
        if v is None:
            continue
        losses[comp.name] = losses[comp.name] + v if comp.name in losses else v
    return losses


def optimise(total, params, opt):
    grads = torch.autograd.grad(total, list(params.values()))
    for p, g in zip(params.values(), grads):
        p.grad = g.detach()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return grads


# ---------------------------------------------------------------------------
# Full-step cases
# ---------------------------------------------------------------------------


GP_INFO = {"discriminator": "disc", "real_data": "real_imgs", "fake_data": "fake_imgs", "alpha": "gp_alpha"}
PL_INFO = {"generator": "gen", "num_batches": "batch_size", "noise": "pl_noise"}

MODEL_CASES = [
    {
        "id": "hinge/shift+gp-pixel/path/adam-D/sgd-G",
        "batch": 2, "steps": 3,
        "config": {
            "gan_loss": {"type": "GANLossComps", "gan_type": "hinge", "loss_weight": 0.5},
            "disc_auxiliary_loss": [
                {"type": "DiscShiftLossComps", "loss_weight": 0.1, "data_info": {"x": "disc_pred_real"}},
                {"type": "GradientPenaltyLossComps", "loss_weight": 10.0, "data_info": GP_INFO},
            ],
            "gen_auxiliary_loss": {"type": "GeneratorPathRegularizerComps", "loss_weight": 2.0,
                                   "data_info": PL_INFO},
            "optimizers": {"discriminator": {"type": "Adam", "lr": 0.01, "betas": [0.5, 0.999], "eps": 1e-8},
                           "generator": {"type": "SGD", "lr": 0.05}},
        },
    },
    {
        "id": "wgan-logistic-ns/shift+gp-HWC/path-shrink2/adam-both",
        "batch": 4, "steps": 3,
        "config": {
            "gan_loss": {"type": "GANLossComps", "gan_type": "wgan-logistic-ns", "loss_weight": 2.0},
            "disc_auxiliary_loss": [
                {"type": "DiscShiftLossComps", "loss_weight": 0.05, "data_info": {"x": "disc_pred_real"}},
                {"type": "GradientPenaltyLossComps", "loss_weight": 5.0, "norm_mode": "HWC",
                 "data_info": GP_INFO},
            ],
            "gen_auxiliary_loss": [{"type": "GeneratorPathRegularizerComps", "loss_weight": 4.0,
                                    "pl_batch_shrink": 2, "decay": 0.3, "data_info": PL_INFO}],
            "optimizers": {"discriminator": {"type": "Adam", "lr": 0.02, "betas": [0.0, 0.99], "eps": 1e-8},
                           "generator": {"type": "Adam", "lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-8}},
        },
    },
    {
        "id": "wgan-logistic-ns/r1-interval2/path-interval2/lazy-correction",
        "batch": 3, "steps": 3,
        "config": {
            "gan_loss": {"type": "GANLossComps", "gan_type": "wgan-logistic-ns", "loss_weight": 1.5},
            "disc_auxiliary_loss": [
                {"type": "R1GradientPenaltyComps", "loss_weight": 8.0, "interval": 2,
                 "data_info": {"discriminator": "disc", "real_data": "real_imgs"}},
                {"type": "DiscShiftLossComps", "loss_weight": 0.2, "data_info": {"x": "disc_pred_fake"}},
            ],
            "gen_auxiliary_loss": [{"type": "GeneratorPathRegularizerComps", "loss_weight": 3.0,
                                    "interval": 2, "decay": 0.1, "data_info": PL_INFO}],
            "optimizers": {"discriminator": {"type": "Adam", "lr": 0.01, "betas": [0.0, 0.99], "eps": 1e-8},
                           "generator": {"type": "Adam", "lr": 0.02, "betas": [0.5, 0.99], "eps": 1e-8}},
            "lazy_reg_correction": True,
        },
    },
    {
        "id": "vanilla-smoothed/equal-names-summed/logged-only-gp/d-steps2/g-steps2",
        "batch": 2, "steps": 4,
        "config": {
            "gan_loss": {"type": "GANLossComps", "gan_type": "vanilla", "loss_weight": 0.7,
                         "real_label_val": 0.9},
            "disc_auxiliary_loss": [
                {"type": "DiscShiftLossComps", "loss_weight": 0.2, "data_info": {"x": "disc_pred_real"}},
                {"type": "GradientPenaltyLossComps", "loss_weight": 3.0, "loss_name": "gp_logged",
                 "data_info": GP_INFO},
                {"type": "DiscShiftLossComps", "loss_weight": 0.1, "data_info": {"x": "disc_pred_fake"}},
                {"type": "R1GradientPenaltyComps", "loss_weight": 2.0, "norm_mode": "HWC",
                 "data_info": {"discriminator": "disc", "real_data": "real_imgs"}},
            ],
            "gen_auxiliary_loss": [{"type": "GeneratorPathRegularizerComps", "loss_weight": 1.0,
                                    "pl_batch_size": 1, "decay": 0.5, "data_info": PL_INFO}],
            "optimizers": {"discriminator": {"type": "Adam", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8},
                           "generator": {"type": "SGD", "lr": 0.05, "momentum": 0.9}},
            "discriminator_steps": 2,
            "generator_steps": 2,
        },
    },
]


def as_list(x):
    return [] if x is None else x if isinstance(x, list) else [x]


class Reject(Exception):
    """A draw too close to a kink or with a near-zero Adam gradient element: draw again."""


def model_case(spec, draw):
    cid, cfg, n = spec["id"], spec["config"], spec["batch"]
    rng = Rng(f"model/{cid}/{draw}")
    margins.clear()
    dp = init(rng, D_SPECS)
    gp = init(rng, G_SPECS)
    initial = {"D": {k: tj(v) for k, v in dp.items()}, "G": {k: tj(v) for k, v in gp.items()}}
    disc_comps = [Component(c) for c in as_list(cfg.get("disc_auxiliary_loss"))]
    gen_comps = [Component(c) for c in as_list(cfg.get("gen_auxiliary_loss"))]
    lazy = cfg.get("lazy_reg_correction", False)
    opt_d = make_optimizer(cfg["optimizers"]["discriminator"], list(dp.values()),
                           lazy_ratio(disc_comps) if lazy else 1.0)
    opt_g = make_optimizer(cfg["optimizers"]["generator"], list(gp.values()),
                           lazy_ratio(gen_comps) if lazy else 1.0)
    d_steps = cfg.get("discriminator_steps", 1)
    g_steps = cfg.get("generator_steps", 1)
    path = next((c for c in gen_comps if c.type == "GeneratorPathRegularizerComps"), None)
    D = lambda x: d_apply(dp, x)  # noqa: E731
    gan_cfg = cfg["gan_loss"]
    steps = []
    for it in range(spec["steps"]):
        real = rng.uniform((n, H, W, C), -1.0, 1.0)
        alpha = rng.uniform((n, 1, 1, 1))
        run_g = (it + 1) % d_steps == 0
        # The latents mapping(n) returns, in call order: D phase, then per G step the G draw and
        # (when the path regulariser runs this iteration) its own draw.
        pl_runs = path is not None and (path.interval == 1 or it % path.interval == 0)
        pl_n = None
        if path is not None:
            shrink = path.cfg.get("pl_batch_shrink", 1)
            pl_n = path.cfg.get("pl_batch_size") or (max(1, n // shrink) if shrink > 1 else n)
        sizes = [n] + ([n] + ([pl_n] if pl_runs else [])) * (g_steps if run_g else 0)
        latents = [rng.normal((k, L, S)) for k in sizes]
        noise = rng.normal((pl_n, H, W, C)) if path is not None else None
        inputs = {"gp_alpha": alpha}
        if noise is not None:
            inputs["pl_noise"] = noise
        queue = list(latents)
        gen = Gen(gp, queue)
        base = {**inputs, "gen": gen, "disc": D, "iteration": it, "batch_size": n, "loss_scaler": None}

        # Discriminator phase.
        with torch.no_grad():
            fake = gen.synthesis(gen.mapping(n))
        pred_fake = D(fake)
        pred_real = D(real)
        outputs = {**base, "disc_pred_fake": pred_fake, "disc_pred_real": pred_real,
                   "fake_imgs": fake, "real_imgs": real}
        losses = OrderedDict()
        losses["loss_disc_fake"] = gan_comps(gan_cfg, pred_fake, False, True)
        losses["loss_disc_real"] = gan_comps(gan_cfg, pred_real, True, True)
        add_components(losses, disc_comps, outputs)
        total, log = parse_losses(list(losses.items()))
        log_vars = OrderedDict((k, v.item()) for k, v in log)
        grads_d = optimise(total, dp, opt_d)

        # Generator phase(s), D frozen (only G's parameters are differentiated and stepped).
        gen_logs = []
        grads_g = []
        for _ in range(g_steps if run_g else 0):
            fake_g = gen.synthesis(gen.mapping(n))
            pred = D(fake_g)
            outputs = {**base, "fake_imgs": fake_g, "disc_pred_fake_g": pred}
            losses = OrderedDict()
            losses["loss_disc_fake_g"] = gan_comps(gan_cfg, pred, True, False)
            add_components(losses, gen_comps, outputs)
            total, log = parse_losses(list(losses.items()))
            gen_logs.append(OrderedDict((k, v.item()) for k, v in log))
            grads_g.append(optimise(total, gp, opt_g))
        assert not queue, "unused latents"
        for key in (gen_logs[0] if gen_logs else {}):
            if key != "loss":
                log_vars[key] = sum(g[key] for g in gen_logs) / len(gen_logs)

        # Adam normalises each gradient element: keep every element well above float32 noise.
        adam_grads = []
        if cfg["optimizers"]["discriminator"]["type"] == "Adam":
            adam_grads += list(grads_d)
        if cfg["optimizers"]["generator"]["type"] == "Adam":
            adam_grads += [t for gs in grads_g for t in gs]
        for g in adam_grads:
            small, big = g.abs().min().item(), g.abs().max().item()
            if not (small > ADAM_MARGIN * big and small > 1e-6):
                raise Reject(f"step {it}: a gradient element {small:.2e} (max {big:.2e})")
        step = {
            "iteration": it,
            "inputs": {"real_imgs": tj(real), **{k: tj(v) for k, v in inputs.items()}},
            "latents": [tj(z) for z in latents],
            "log_vars": [[k, num(v)] for k, v in log_vars.items()],
            "weights": {"D": {k: tj(v) for k, v in dp.items()}, "G": {k: tj(v) for k, v in gp.items()}},
        }
        if path is not None:
            step["mean_path_length"] = num(path.mean_path_length)
        steps.append(step)
    if min(margins) <= KINK_MARGIN:
        raise Reject(f"a pre-activation within {KINK_MARGIN} of a kink")
    return {"id": cid, "draw": draw, "config": cfg, "batch_size": n, "initial": initial, "steps": steps}


def main():
    torch.manual_seed(0)
    parse = parse_cases()
    cases = []
    for spec in MODEL_CASES:
        for draw in range(1000):
            try:
                cases.append(model_case(spec, draw))
                break
            except Reject as why:
                print(f"{spec['id']} draw {draw} rejected: {why}")
        else:
            raise RuntimeError(spec["id"])
    head = {"generator": GENERATOR, "torch": torch.__version__,
            "nets": {"D": "conv3x3/2 same (3->4) + b, lrelu 0.2, conv3x3/1 same (4->4) + b, lrelu 0.2, "
                          "spatial mean, linear 4->1 + b",
                     "G": "flatten n x 2 x 4, linear 8->48 + b, tanh, reshape n x 4 x 4 x 3, nearest x2"}}
    text = write_reference(OUT, head, {"parse_losses": parse, "cases": cases})
    print(f"model.json: {len(parse)} parse_losses cases, {len(cases)} model cases, {len(text)} bytes")


if __name__ == "__main__":
    main()
