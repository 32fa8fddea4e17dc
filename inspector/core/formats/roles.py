"""What each tensor of a checkpoint is: the model's weights, or training state saved beside them.

Checkpoints users release are often training checkpoints: a plain state_dict beside the optimizer's moments
(Adam's ``exp_avg``/``exp_avg_sq``, SGD's ``momentum_buffer``), a learning-rate scheduler, an EMA copy of the
weights, RNG state and step counters. Judging the optimizer's moments as weights raises false alarms (a
momentum buffer fed by ReLUs is nearly one-signed) and doubles the parameter count. This module names each
tensor's role from where it sits, recognising the common layouts:

- plain ``state_dict`` (with ``module.`` from DDP/DataParallel or ``_orig_mod.`` from ``torch.compile``);
- ``{"model": ..., "optimizer": ..., "epoch": ...}`` and other custom training dicts;
- PyTorch Lightning ``.ckpt`` (``state_dict``, ``optimizer_states``, ``lr_schedulers``, ``callbacks``, ``loops``);
- Hugging Face Trainer folders (``optimizer.pt``, ``scheduler.pt``, ``rng_state.pth`` beside the model);
- timm training checkpoints (``state_dict``, ``state_dict_ema``, ``optimizer``).

Roles: ``weight`` (the model's parameters and buffers: what ``load_state_dict`` takes), ``ema`` (an averaged
copy of the weights), ``optimizer``, ``scheduler``, ``rng``, ``counter`` (step and batch counters) and
``training`` (other training bookkeeping: callbacks, loops, loss scalers, metrics). Every role can still carry
a payload, so every tensor stays listed and scanned; only the parameter count and the expectations differ.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Mapping

from inspector.core.formats.base import ModelFile, TensorRef

ROLES = ("weight", "ema", "optimizer", "scheduler", "rng", "counter", "training")
#: Roles that are state of the training run rather than of the model.
TRAINING_ROLES = frozenset({"optimizer", "scheduler", "rng", "counter", "training"})

_OPTIMIZER_KEYS = {
    "optimizer",
    "optimizers",
    "optimizer_states",
    "optimizer_state",
    "optimizer_state_dict",
    "optimizer_dict",
    "optim",
    "optim_state",
    "optim_state_dict",
    "opt",
    "opt_state",
    "opt_state_dict",
}
#: Per-parameter state of torch.optim optimizers (and common third-party ones).
_MOMENT_LEAVES = {
    "exp_avg",
    "exp_avg_sq",
    "max_exp_avg_sq",
    "momentum_buffer",
    "square_avg",
    "acc_delta",
    "sum",
    "exp_inf",
    "grad_avg",
    "mu_product",
    "eta",
    "prev",
    "step_size",
    "ax",
    "exp_avg_sq_row",
    "exp_avg_sq_col",
    "exp_avg_res_row",
    "exp_avg_res_col",
    "momentum",
    "exp_avg_diff",
    "neg_pre_grad",
    "shadow",
}
_SCHEDULER_KEYS = {
    "scheduler",
    "schedulers",
    "lr_scheduler",
    "lr_schedulers",
    "scheduler_state_dict",
    "lr_scheduler_state_dict",
    "sched",
}
_EMA_KEYS = {
    "ema",
    "model_ema",
    "state_dict_ema",
    "ema_state_dict",
    "ema_model",
    "ema_state",
    "model_ema_state_dict",
    "ema_params",
    "ema_weights",
    "shadow_params",
    "averaged_model",
    "swa_model",
    "averaged_params",
}
_RNG_KEYS = {
    "rng",
    "rng_state",
    "rng_states",
    "torch_rng_state",
    "cuda_rng_state",
    "cuda_rng_states",
    "cpu_rng_state",
    "numpy_rng_state",
    "random_state",
    "random_states",
    "generator_state",
}
_COUNTER_LEAVES = {
    "num_batches_tracked",
    "step",
    "steps",
    "global_step",
    "epoch",
    "iteration",
    "n_averaged",
    "num_updates",
    "updates",
    "_step_count",
}
_TRAINING_KEYS = {
    "callbacks",
    "loops",
    "scaler",
    "grad_scaler",
    "amp",
    "amp_scaler",
    "loss_scaler",
    "metrics",
    "best_metric",
    "best_model_score",
    "trainer_state",
}
#: Files a Hugging Face Trainer / Accelerate writes beside the model, by the role of all they hold.
_FILE_ROLES = (
    (re.compile(r"^(optimizer|optimizer_\d+)\.(pt|bin|pth)$"), "optimizer"),
    (re.compile(r"^(scheduler|scheduler_\d+)\.(pt|bin|pth)$"), "scheduler"),
    (re.compile(r"^(rng_state|random_states)(_\d+)?\.(pt|pth|pkl)$"), "rng"),
    (re.compile(r"^scaler\.(pt|pth)$"), "training"),
)
#: Top-level keys that hold the model's state_dict in a training checkpoint.
_MODEL_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "model_state", "weights")
#: Prefixes wrappers put in front of every key: DDP / DataParallel, torch.compile.
_WRAPPER_PREFIXES = (("module.", "DistributedDataParallel/DataParallel"), ("_orig_mod.", "torch.compile"))


def _is_index(part: str) -> bool:
    return part.isdigit()


def role_of(name: str, numel: int = 0, *, bare_optimizer: bool = False) -> str:
    """The role of the tensor ``name`` (dotted path in its checkpoint) holding ``numel`` elements."""
    parts = name.split(".")
    low = [p.lower() for p in parts]
    head = low[:2]
    leaf = low[-1].split("#")[0]
    if any(p in _RNG_KEYS or p.endswith("_rng_state") or p.endswith("rng_states") for p in low):
        return "rng"
    if leaf in _COUNTER_LEAVES and numel <= 1:
        return "counter"
    if low[0] in _OPTIMIZER_KEYS or (len(low) > 1 and low[0] in _MODEL_KEYS and low[1] in _OPTIMIZER_KEYS):
        return "optimizer"
    # "...state.<param index>.<moment>": torch.optim's state_dict layout wherever it is nested
    for i in range(len(low) - 2):
        if low[i] == "state" and _is_index(low[i + 1]) and (low[i + 2] in _MOMENT_LEAVES or bare_optimizer):
            return "optimizer"
    if low[0] in _SCHEDULER_KEYS:
        return "scheduler"
    if any(p in _EMA_KEYS or p.startswith("ema_") or p.endswith("_ema") for p in head):
        return "ema"
    if low[0] in _TRAINING_KEYS:
        return "ema" if any("ema" in p for p in low[1:3]) and low[0] == "callbacks" else "training"
    return "weight"


@dataclass(frozen=True)
class Structure:
    """A checkpoint's layout: the role of every tensor and the prefix ``load_state_dict`` does not expect."""

    layout: str
    roles: Mapping[str, str]
    #: prefix of every weight's name that the model's own state_dict keys do not have ("model.", "module."...)
    prefix: str = ""
    wrappers: tuple[str, ...] = ()

    def counts(self, model: ModelFile) -> dict[str, tuple[int, int]]:
        """``role -> (tensors, elements)`` in ROLES order, roles with no tensor left out."""
        out: dict[str, list[int]] = {}
        for t in model.tensors:
            c = out.setdefault(self.roles.get(t.name, "weight"), [0, 0])
            c[0] += 1
            c[1] += t.numel
        return {r: (out[r][0], out[r][1]) for r in ROLES if r in out}

    def state_dict_name(self, name: str) -> str:
        """``name`` as the model's ``load_state_dict`` expects it (wrapper prefixes removed)."""
        return name[len(self.prefix) :] if self.prefix and name.startswith(self.prefix) else name


def classify(model: ModelFile) -> Structure:
    """Name the role of every tensor of ``model`` and recognise its checkpoint layout."""
    file_role = next((role for rx, role in _FILE_ROLES if rx.match(model.path.name)), None)
    meta_keys = set(model.metadata)
    bare_optimizer = any(k.startswith("pytorch.param_groups") for k in meta_keys)
    if file_role is not None:
        roles = {t.name: file_role for t in model.tensors}
    else:
        roles = {t.name: role_of(t.name, t.numel, bare_optimizer=bare_optimizer) for t in model.tensors}
    weights = [n for n, r in roles.items() if r == "weight"]
    prefix, wrappers = _prefix(weights)
    present = set(roles.values())
    lightning = any(k.startswith("pytorch.pytorch-lightning_version") for k in meta_keys) or any(
        n.startswith("optimizer_states.") for n in roles
    )
    if file_role is not None:
        layout = f"training state file ({file_role})"
    elif lightning:
        layout = "PyTorch Lightning checkpoint"
    elif "ema" in present and any(n.startswith("state_dict_ema.") for n in roles):
        layout = "timm training checkpoint"
    elif bare_optimizer and present <= {"optimizer", "counter"}:
        layout = "optimizer state_dict"
    elif present & TRAINING_ROLES - {"counter"} or "ema" in present:
        layout = "training checkpoint"
    else:
        layout = "state_dict"
    if wrappers:
        layout += " (" + ", ".join(wrappers) + ")"
    return Structure(layout=layout, roles=roles, prefix=prefix, wrappers=wrappers)


def _prefix(weights: list[str]) -> tuple[str, tuple[str, ...]]:
    """The prefix every weight name shares that a model's own keys do not have, and the wrappers it names."""
    if not weights:
        return "", ()
    prefix = ""
    first = weights[0].split(".")[0]
    # "module." is left to the wrapper loop: a DDP prefix and a {"module": state_dict} key strip alike
    if first in _MODEL_KEYS and first != "module" and all(n.startswith(first + ".") for n in weights):
        prefix = first + "."
    wrappers: list[str] = []
    changed = True
    while changed:
        changed = False
        for p, what in _WRAPPER_PREFIXES:
            if all(n.startswith(prefix + p) for n in weights):
                prefix += p
                wrappers.append(what)
                changed = True
    return prefix, tuple(wrappers)


def with_roles(model: ModelFile) -> ModelFile:
    """``model`` with each tensor's ``role`` set; unless it is a plain state_dict, the layout is summarised in
    ``metadata["structure.layout"]``, ``["structure.roles"]`` and ``["structure.state_dict_prefix"]``."""
    if not model.tensors:
        return model
    s = classify(model)
    tensors = tuple(
        t if t.role == s.roles[t.name] else dataclasses.replace(t, role=s.roles[t.name]) for t in model.tensors
    )
    if set(s.roles.values()) <= {"weight", "counter"} and not s.prefix:  # a plain state_dict: nothing to say
        return dataclasses.replace(model, tensors=tensors)
    meta = dict(model.metadata)
    meta["structure.layout"] = s.layout
    counts = s.counts(model)
    meta["structure.roles"] = "; ".join(f"{r}: {n:,} tensors, {e:,} elements" for r, (n, e) in counts.items())
    if s.prefix:
        meta["structure.state_dict_prefix"] = s.prefix
    return dataclasses.replace(model, tensors=tensors, metadata=meta)


def weights_only(model: ModelFile) -> tuple[TensorRef, ...]:
    """The tensors ``load_state_dict`` takes (role ``weight``), in storage order."""
    return tuple(t for t in model.tensors if t.role == "weight")
