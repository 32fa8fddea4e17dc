"""A small fleet generated into tmp_path: trained-looking models, a suspicious demo model, a Hugging Face folder,
a malformed file, a hostile pickle and one that needs its class's code, plus files that are not models.

Without evaluation data no model is assessed for capacity abuse, so the benign ones are ``incomplete``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inspector.core.resources import resource_path

#: A legacy torch pickle whose only content is a call of os.system: read without running it, it is a
#: code-execution finding (suspicious).
HOSTILE_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
#: A pickle of an object of its own class: it needs that class's code, so it cannot be inspected (refused).
#: ``mymodule.MyNet(1)``: an object its class's code must build from an argument (refused, named)
NEEDS_CODE_PICKLE = b"\x80\x02cmymodule\nMyNet\nq\x00K\x01\x85q\x01Rq\x02."


def write_clean(path: Path, seed: int, shape: tuple[int, int] = (64, 32)) -> Path:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "fc1.weight": rng.normal(0, 0.05, shape).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.01, shape[0]).astype(np.float32),
        },
        str(path),
    )
    return path


@pytest.fixture
def fleet(tmp_path) -> Path:
    root = tmp_path / "fleet"
    for i in range(4):
        write_clean(root / f"clean-{i}.safetensors", i)
    write_clean(root / "team" / "deep" / "clean-deep.safetensors", 10)
    (root / "team" / "sub").mkdir(parents=True)
    shutil.copy(resource_path("demo", "mlp-lsb-raw-b16.safetensors"), root / "team" / "sub" / "lsb.safetensors")
    hf = root / "hf-repo"
    write_clean(hf / "model.safetensors", 20)
    (hf / "config.json").write_text(json.dumps({"model_type": "mlp"}))
    (hf / "optimizer.pt").write_bytes(b"\x00" * 64)  # training state: not a model of its own
    (root / "README.txt").write_text("not a model")
    (root / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    (root / "evil.pt").write_bytes(HOSTILE_PICKLE)
    (root / "needs-code.pt").write_bytes(NEEDS_CODE_PICKLE)
    return root


#: the models of ``fleet`` relative to it (the hf-repo folder counts as one)
FLEET_IDS = {
    "clean-0.safetensors",
    "clean-1.safetensors",
    "clean-2.safetensors",
    "clean-3.safetensors",
    "team/deep/clean-deep.safetensors",
    "team/sub/lsb.safetensors",
    "hf-repo",
    "broken.safetensors",
    "evil.pt",
    "needs-code.pt",
}
