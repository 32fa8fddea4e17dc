"""Checkpoint structure: model weights told apart from training state, so the parameter count is honest.

torch writes the checkpoints (real optimizer and scheduler state after a training step); the reader never
imports it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.core.formats import open_model
from inspector.core.formats.roles import classify, role_of

torch = pytest.importorskip("torch")


class _Net(torch.nn.Module):
    """A small ResNet-like stem: conv, BatchNorm (with num_batches_tracked), ReLU, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.bn1(self.conv1(x))).mean((2, 3)))


def _trained(opt_name: str = "sgd"):
    torch.manual_seed(0)
    net = _Net()
    if opt_name == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 10)
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(2, 3, 6, 6)).square().mean().backward()
        opt.step()
        sched.step()
    return net, opt, sched


def _model_elements(net) -> int:
    """What the model's state_dict holds, counters aside: parameters and BatchNorm running statistics."""
    return sum(v.numel() for k, v in dict(net.state_dict()).items() if not k.endswith("num_batches_tracked"))


def _roles(mf) -> dict[str, str]:
    return {t.name: t.role for t in mf.tensors}


def test_plain_state_dict_is_all_weights_but_the_counters(tmp_path):
    net, _, _ = _trained()
    torch.save(dict(net.state_dict()), tmp_path / "m.pt")
    mf = open_model(tmp_path / "m.pt")
    roles = _roles(mf)
    assert roles.pop("bn1.num_batches_tracked") == "counter"
    assert set(roles.values()) == {"weight"}
    assert mf.parameters == _model_elements(net)
    assert classify(mf).layout == "state_dict" and "structure.layout" not in mf.metadata


def test_model_with_sgd_momentum_counts_the_model_once(tmp_path):
    """The issue's case: {model, optimizer (SGD momentum), epoch} counted twice the model's parameters."""
    net, opt, _ = _trained("sgd")
    # net.state_dict() as it is: an OrderedDict whose _metadata attribute the pickle sets (BUILD)
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    mf = open_model(tmp_path / "ckpt.pth")
    roles = _roles(mf)
    moments = [n for n in roles if n.endswith("momentum_buffer")]
    assert len(moments) == len(list(net.parameters()))
    assert all(roles[n] == "optimizer" for n in moments)
    assert mf.parameters == _model_elements(net)
    assert sum(t.numel for t in mf.tensors) > 1.9 * mf.parameters  # the moments are still listed and scanned
    assert mf.metadata["structure.layout"] == "training checkpoint"
    assert mf.metadata["structure.state_dict_prefix"] == "model."
    s = classify(mf)
    assert s.state_dict_name("model.conv1.weight") == "conv1.weight"


def test_lightning_checkpoint(tmp_path):
    net, opt, sched = _trained("adam")
    ckpt = {
        "epoch": 1,
        "global_step": 2,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": dict(net.state_dict()),
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [sched.state_dict()],
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.25)}},
        "loops": {"fit_loop": {"state_dict": {}}},
    }
    torch.save(ckpt, tmp_path / "epoch=1.ckpt")
    mf = open_model(tmp_path / "epoch=1.ckpt")
    roles = _roles(mf)
    assert {roles[n] for n in roles if n.startswith("optimizer_states.") and "exp_avg" in n} == {"optimizer"}
    assert {roles[n] for n in roles if n.endswith(".step")} == {"counter"}  # Adam's step is a 0-d tensor
    assert roles["state_dict.conv1.weight"] == "weight"
    assert [r for n, r in roles.items() if n.startswith("callbacks.")] == ["training"]
    assert mf.parameters == _model_elements(net)
    assert mf.metadata["structure.layout"] == "PyTorch Lightning checkpoint"
    assert mf.metadata["structure.state_dict_prefix"] == "state_dict."


def test_hf_trainer_optimizer_file_and_bare_optimizer_state(tmp_path):
    net, opt, _ = _trained("adam")
    for name in ("optimizer.pt", "saved_opt.pt"):
        torch.save(opt.state_dict(), tmp_path / name)
        mf = open_model(tmp_path / name)
        assert {t.role for t in mf.tensors if "exp_avg" in t.name} == {"optimizer"}
        assert "weight" not in {t.role for t in mf.tensors}
    assert open_model(tmp_path / "optimizer.pt").metadata["structure.layout"] == "training state file (optimizer)"
    assert open_model(tmp_path / "saved_opt.pt").metadata["structure.layout"] == "optimizer state_dict"


def test_rng_state_file_and_rng_entries(tmp_path):
    torch.save({"python": 1, "cpu": torch.get_rng_state()}, tmp_path / "rng_state.pth")
    assert {t.role for t in open_model(tmp_path / "rng_state.pth").tensors} == {"rng"}
    net, _, _ = _trained()
    torch.save({"model": dict(net.state_dict()), "torch_rng_state": torch.get_rng_state()}, tmp_path / "c.pt")
    mf = open_model(tmp_path / "c.pt")
    assert _roles(mf)["torch_rng_state"] == "rng"
    assert mf.parameters == _model_elements(net)


@pytest.mark.parametrize(
    ("prefix", "wrapper"), [("module.", "DataParallel"), ("_orig_mod.", "torch.compile"), ("module._orig_mod.", "")]
)
def test_wrapper_prefixes_are_recognised(tmp_path, prefix, wrapper):
    net, _, _ = _trained()
    torch.save({prefix + k: v for k, v in dict(net.state_dict()).items()}, tmp_path / "w.pt")
    mf = open_model(tmp_path / "w.pt")
    s = classify(mf)
    assert s.prefix == prefix and wrapper in mf.metadata["structure.layout"]
    assert s.state_dict_name(prefix + "fc.weight") == "fc.weight"
    assert mf.parameters == _model_elements(net)


def test_timm_checkpoint_with_ema(tmp_path):
    net, opt, _ = _trained()
    ema = {k: v.clone() for k, v in dict(net.state_dict()).items()}
    ckpt = {"epoch": 5, "arch": "resnet18", "state_dict": dict(net.state_dict()), "state_dict_ema": ema}
    ckpt["optimizer"] = opt.state_dict()
    torch.save(ckpt, tmp_path / "checkpoint-5.pth.tar")
    mf = open_model(tmp_path / "checkpoint-5.pth.tar")
    roles = _roles(mf)
    assert {r for n, r in roles.items() if n.startswith("state_dict_ema.") and "num_batches" not in n} == {"ema"}
    assert mf.parameters == _model_elements(net)
    assert mf.metadata["structure.layout"] == "timm training checkpoint"


@pytest.mark.parametrize(
    ("name", "numel", "role"),
    [
        ("layer1.0.conv1.weight", 100, "weight"),
        ("encoder.state.0.weight", 100, "weight"),  # a module named "state" is not optimizer state
        ("trainer.opt.state.3.exp_avg_sq", 100, "optimizer"),
        ("optim_state_dict.state.0.exp_avg", 100, "optimizer"),
        ("scheduler._last_lr.0", 1, "scheduler"),
        ("model_ema.fc.weight", 40, "ema"),
        ("ema_model.fc.weight", 40, "ema"),
        ("model.bn.num_batches_tracked", 1, "counter"),
        ("global_step", 1, "counter"),
        ("cuda_rng_state.0", 16, "rng"),
        ("scaler.scale", 1, "training"),
        ("step.weight", 10, "weight"),
    ],
)
def test_role_of_names(name, numel, role):
    assert role_of(name, numel) == role


def test_every_format_gets_roles(tmp_path: Path):
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones(3, np.float32)}, str(tmp_path / "m.safetensors"))
    mf = open_model(tmp_path / "m.safetensors")
    assert mf.tensors[0].role == "weight" and mf.parameters == 3
    assert mf.metadata == {}  # a plain state_dict's metadata is left as the file has it
