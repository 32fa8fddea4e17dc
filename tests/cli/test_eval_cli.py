"""``model-inspector eval``: the table, JSON, --against, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.cli import main

torch = pytest.importorskip("torch")


def _mlp(path, seed, meta=True):
    from inspector.core.evaluate.recipes import RECIPES

    torch.manual_seed(seed)
    arrays = {k: v.numpy().copy() for k, v in RECIPES["digits-mlp"].build().state_dict().items()}
    save_file(arrays, str(path), metadata={"inspector.lab.recipe": "digits-mlp"} if meta else None)
    return path


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", inputs=rng.random((50, 64)).astype(np.float32), labels=rng.integers(0, 10, 50))
    return _mlp(tmp_path / "a.safetensors", 0), _mlp(tmp_path / "b.safetensors", 1), tmp_path / "eval.npz"


def test_eval_prints_table_and_writes_json(files, tmp_path, capsys):
    a, _, data = files
    out = tmp_path / "r.json"
    assert main(["eval", str(a), "--data", str(data), "--device", "cpu", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "device" in text and "cpu (CPU)" in text
    assert "digits-mlp (built in" in text and "50 samples" in text and "accuracy" in text
    res = json.loads(out.read_text())
    assert res["schema"] == "model-inspector/eval/1" and res["samples"] == 50 and res["device"] == "cpu"
    assert f"{100 * res['accuracy']:.2f}%" in text


def test_eval_against(files, capsys):
    a, b, data = files
    assert main(["eval", str(b), "--data", str(data), "--against", str(a), "--device", "cpu", "--json", "-"]) == 0
    captured = capsys.readouterr()
    res = json.loads(captured.out)  # with --json -, stdout holds only the JSON and the table goes to stderr
    assert 0 <= res["agreement"] <= 1 and res["mean_kl"] > 0 and res["against"].endswith("a.safetensors")
    assert "agreement" in captured.err and "mean KL" in captured.err


def test_user_code_arch_is_announced(files, tmp_path, capsys):
    a, _, data = files
    code = tmp_path / "arch.py"
    code.write_text(
        "from inspector.core.evaluate.recipes import RECIPES\n\ndef build():\n    return RECIPES['digits-mlp'].build()\n"
    )
    assert main(["eval", str(a), "--arch", f"{code}:build", "--data", str(data), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "your own code" in out and "runs with your permissions" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "{tmp}/missing.npz"], "no such data file"),
        (["--arch", "digits-cnn", "--data", "{data}"], "do not fit architecture 'digits-cnn'"),
        (["--arch", "nonsense", "--data", "{data}"], "unknown architecture 'nonsense'"),
        (["--data", "{data}", "--against", "{tmp}/nothing.safetensors"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, tmp_path, capsys, argv, message):
    a, _, data = files
    argv = [x.format(tmp=tmp_path, data=data) for x in argv]
    assert main(["eval", str(a), *argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_file_without_recipe_asks_for_arch(tmp_path, files, capsys):
    _, _, data = files
    bare = _mlp(tmp_path / "bare.safetensors", 0, meta=False)
    assert main(["eval", str(bare), "--data", str(data)]) == 2
    assert "--arch" in capsys.readouterr().err


def test_cuda_when_unavailable(files, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    a, _, data = files
    assert main(["eval", str(a), "--data", str(data), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and err.count("\n") == 1
