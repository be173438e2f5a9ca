#!/usr/bin/env python3
"""Training reference fixtures: losses, optimisers and learning-rate schedules.

Group "losses": for each loss, the inputs, the loss value and the gradients with respect to
every input, computed by torch autograd in float64 from the formulas of MODELS.md "Training"
(the same ones the Swift doc comments state), then stored as float32. Shapes are tiny and odd;
several cases have a target channel that is empty over the whole batch.

Group "optimizers": torch.optim.Adam (plain, L2 weight decay, amsgrad, a parameter whose
gradient is missing at one step), torch.optim.AdamW, torch.optim.SGD (momentum + weight decay,
Nesterov) run in float32 for 5 steps on two parameters with a fixed sequence of gradients; the
parameters after every step are stored. Also StepLR / ExponentialLR: the learning rate used by
each of 10 optimiser steps.

Run from this folder: /work/venv/bin/python make_training_fixtures.py
"""
import torch
import torch.nn.functional as F

from fixture_io import randn, generator, save_case

STEPS = 5
SHAPES = ([3, 4], [5])


# ---------------------------------------------------------------- losses (float64 autograd)

def dice_loss(p, g, eps, channels=None):
    axes = [0] + list(range(2, p.dim()))
    intersection = (p * g).sum(dim=axes)
    squares = (p * p).sum(dim=axes)
    targets = g.sum(dim=axes)
    dice = (2 * intersection + eps) / (squares + targets + eps)
    if channels is not None:
        dice = dice[channels]
    return 1 - dice.mean()


def bce_loss(x, g):
    return (x.clamp(min=0) - x * g + torch.log1p(torch.exp(-x.abs()))).mean()


def binary_target(shape, seed, probability=0.4, empty_channels=()):
    g = (torch.rand(shape, generator=generator(seed)) < probability).double()
    for channel in empty_channels:
        g[:, channel] = 0
    return g


def soft_target(shape, seed):
    return torch.rand(shape, generator=generator(seed), dtype=torch.float64)


def save_loss_case(name, inputs, loss_function, **settings):
    """inputs: dict name -> float64 tensor; stores inputs, 'loss' and 'grad_<input>'."""
    leaves = {k: v.detach().double().requires_grad_(True) for k, v in inputs.items()}
    loss = loss_function(**leaves)
    loss.backward()
    tensors = {k: v.detach() for k, v in leaves.items()}
    tensors["loss"] = loss.detach().reshape(1)
    for k, v in leaves.items():
        tensors[f"grad_{k}"] = v.grad
    save_case("losses", name, tensors, **settings)


def make_losses():
    # soft Dice on probabilities
    for name, shape, eps, empty, soft, seed in [
        ("dice_empty_channel_eps1", [1, 3, 3, 4, 5], 1.0, [2], False, 10),
        ("dice_batch2_eps1e-5", [2, 2, 5, 3, 7], 1e-5, [1], False, 11),
        ("dice_soft_target", [2, 3, 3, 3, 4], 1.0, [], True, 12),
    ]:
        p = torch.sigmoid(randn(shape, seed, 2.0)).double()
        g = soft_target(shape, seed + 100) if soft else binary_target(shape, seed + 100, empty_channels=empty)
        save_loss_case(name, {"probabilities": p, "target": g},
                       lambda probabilities, target, eps=eps: dice_loss(probabilities, target, eps),
                       epsilon=eps)

    # BCE with logits (large magnitudes check stability)
    for name, shape, soft, seed in [
        ("bce_binary", [1, 3, 3, 4, 5], False, 20),
        ("bce_soft", [2, 2, 3, 5, 3], True, 21),
    ]:
        x = randn(shape, seed, 3.0).double()
        x.view(-1)[:4] = torch.tensor([40.0, -40.0, 100.0, -100.0], dtype=torch.float64)
        g = soft_target(shape, seed + 100) if soft else binary_target(shape, seed + 100)
        reference = F.binary_cross_entropy_with_logits(x, g)
        assert torch.allclose(reference, bce_loss(x, g), rtol=1e-12), "softplus form differs from torch's BCE"
        save_loss_case(name, {"logits": x, "target": g},
                       lambda logits, target: bce_loss(logits, target))

    # region loss: Dice(sigmoid(x)) + BCE(x)
    for name, shape, eps, empty, soft, seed in [
        ("region_empty_channel_eps1", [1, 3, 5, 4, 3], 1.0, [2], False, 30),
        ("region_batch2_soft_eps1e-5", [2, 3, 3, 3, 5], 1e-5, [], True, 31),
    ]:
        x = randn(shape, seed, 2.0).double()
        g = soft_target(shape, seed + 100) if soft else binary_target(shape, seed + 100, empty_channels=empty)
        save_loss_case(name, {"logits": x, "target": g},
                       lambda logits, target, eps=eps: dice_loss(torch.sigmoid(logits), target, eps) + bce_loss(logits, target),
                       epsilon=eps)

    # multi-class soft Dice over classes 1..3 of a 4-class softmax, one-hot target
    for name, shape, eps, absent, seed in [
        ("multiclass_absent_class3_eps1", [1, 4, 3, 5, 4], 1.0, 3, 40),
        ("multiclass_batch2_eps1e-5", [2, 4, 3, 3, 3], 1e-5, None, 41),
    ]:
        p = torch.softmax(randn(shape, seed, 2.0).double(), dim=1)
        labels = torch.randint(0, 4, [shape[0]] + shape[2:], generator=generator(seed + 100))
        if absent is not None:
            labels[labels == absent] = 0
        g = F.one_hot(labels, 4).permute(0, 4, 1, 2, 3).double()
        save_loss_case(name, {"probabilities": p, "target": g},
                       lambda probabilities, target, eps=eps: dice_loss(probabilities, target, eps, [1, 2, 3]),
                       epsilon=eps, classes=[1, 2, 3])

    # mean squared error and KL divergence
    save_loss_case("mse", {"prediction": randn([2, 4, 3, 3, 3], 50).double(), "target": randn([2, 4, 3, 3, 3], 51).double()},
                   lambda prediction, target: ((prediction - target) ** 2).mean())
    save_loss_case("kl", {"mean": randn([2, 16], 60).double(), "log_variance": randn([2, 16], 61, 0.7).double()},
                   lambda mean, log_variance: ((mean ** 2 + log_variance.exp() - log_variance - 1) / 2).mean())


# ---------------------------------------------------------------- optimisers (float32)

def run_optimizer(name, make, missing=None, **settings):
    """missing: (step, parameter index) whose gradient is None at that step."""
    initial = [randn(shape, 70 + i) for i, shape in enumerate(SHAPES)]
    gradients = [torch.stack([randn(shape, 80 + 10 * i + s, 0.5 + s) for s in range(STEPS)]) for i, shape in enumerate(SHAPES)]
    parameters = [torch.nn.Parameter(t.clone()) for t in initial]
    optimizer = make(parameters)
    after = [[] for _ in SHAPES]
    has_gradient = torch.ones(len(SHAPES), STEPS)
    for s in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        for i, p in enumerate(parameters):
            if missing == (s, i):
                has_gradient[i, s] = 0
                continue
            p.grad = gradients[i][s].clone()
        optimizer.step()
        for i, p in enumerate(parameters):
            after[i].append(p.detach().clone())
    tensors = {"has_gradient": has_gradient}
    for i in range(len(SHAPES)):
        tensors[f"initial.{i}"] = initial[i]
        tensors[f"gradients.{i}"] = gradients[i]
        tensors[f"after.{i}"] = torch.stack(after[i])
    save_case("optimizers", name, tensors, steps=STEPS, **settings)


def make_optimizers():
    adam = dict(kind="adam", lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, amsgrad=False)
    run_optimizer("adam_plain", lambda ps: torch.optim.Adam(ps, lr=0.05), **adam)
    run_optimizer("adam_weight_decay", lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                  **{**adam, "lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1})
    run_optimizer("adam_amsgrad", lambda ps: torch.optim.Adam(ps, lr=0.05, amsgrad=True), **{**adam, "amsgrad": True})
    run_optimizer("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.03, weight_decay=0.5),
                  **{**adam, "lr": 0.03, "weight_decay": 0.5, "decoupled": True})
    run_optimizer("adam_missing_gradient", lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.01), missing=(2, 1),
                  **{**adam, "weight_decay": 0.01})
    sgd = dict(kind="sgd", lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-2, nesterov=False)
    run_optimizer("sgd_momentum_weight_decay", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2), **sgd)
    run_optimizer("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, weight_decay=1e-3, nesterov=True),
                  missing=(1, 0), **{**sgd, "lr": 0.05, "momentum": 0.8, "weight_decay": 1e-3, "nesterov": True})


def record_schedule(name, base, make, steps=10, **settings):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base)
    scheduler = make(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    save_case("optimizers", name, {"rates": torch.tensor(rates, dtype=torch.float64)}, base=base, **settings)


def make_schedules():
    record_schedule("schedule_step", 0.1, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
                    kind="step", step_size=3, gamma=0.5)
    record_schedule("schedule_exponential", 0.01, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
                    kind="exponential", gamma=0.9)


if __name__ == "__main__":
    make_losses()
    make_optimizers()
    make_schedules()
