"""Training of the lab's models, benign or with an attack's extra loss term, reproducibly on the CPU.

Everything is seeded (weights, batch order); the build runs with a fixed number of torch threads, so the same
versions of torch and numpy produce the same files bit for bit.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Optional

import numpy as np

from inspector.core.evaluate import RECIPES
from inspector.core.formats import Dataset
from inspector.core.progress import CancelToken, check

#: An attack's extra loss: a function of θ (the weight matrices, flattened and concatenated in model order).
Penalty = Callable[[Any], Any]


@dataclass(frozen=True)
class TrainConfig:
    """How one model is trained. ``optimizer`` is ``adam`` or ``sgd`` (momentum 0.9); ``weight_decay`` is an
    L2 term added to the gradient (torch's ``weight_decay``)."""

    arch: str = "digits-mlp"
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4

    def but(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op torch threads, restoring the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def theta_of(module: Any) -> Any:
    """θ: the module's weight matrices and kernels (parameters of 2 or more dimensions, biases excluded),
    flattened and concatenated in registration order (a differentiable torch vector)."""
    import torch

    return torch.cat([p.reshape(-1) for _, p in module.named_parameters() if p.ndim >= 2])


def theta_names(module: Any) -> list[str]:
    return [n for n, p in module.named_parameters() if p.ndim >= 2]


def state_arrays(module: Any) -> dict[str, np.ndarray]:
    """The module's state as contiguous float32 numpy arrays, in state-dict order."""
    return {k: v.detach().cpu().contiguous().numpy().copy() for k, v in module.state_dict().items()}


def build(arch: str, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    return RECIPES[arch].build()


def train(
    cfg: TrainConfig,
    data: Dataset,
    *,
    penalty: Optional[Penalty] = None,
    extra: Optional[Dataset] = None,
    cancel: Optional[CancelToken] = None,
) -> Any:
    """Train ``cfg.arch`` on ``data`` (plus ``extra`` samples mixed in, for capacity abuse) with cross-entropy
    plus ``penalty(θ)``; returns the trained module in eval mode."""
    import torch
    import torch.nn.functional as F

    model = build(cfg.arch, cfg.seed)
    x = torch.from_numpy(data.inputs)
    y = torch.from_numpy(data.labels)
    if extra is not None:
        x = torch.cat([x, torch.from_numpy(extra.inputs)])
        y = torch.cat([y, torch.from_numpy(extra.labels)])
    if cfg.optimizer == "adam":
        opt: Any = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    n = x.shape[0]
    model.train()
    for _ in range(cfg.epochs):
        check(cancel)
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            if penalty is not None:
                loss = loss + penalty(theta_of(model))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(module: Any, data: Dataset) -> float:
    """Top-1 accuracy on the CPU (one forward pass; the lab's sets are small)."""
    import torch

    with torch.inference_mode():
        pred = module(torch.from_numpy(data.inputs)).argmax(dim=1).numpy()
    return float((pred == data.labels).mean())
