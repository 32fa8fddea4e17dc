"""Architecture recipes: the registry, user code specs, strict name/shape checks, safe weight loading."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.errors import RecipeError
from inspector.core.evaluate.recipes import RECIPES, build_module, resolve, state_dict_from
from inspector.core.formats import open_model, read_tensor

torch = pytest.importorskip("torch")


def _write(path, arrays, metadata=None):
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata=metadata)
    return open_model(path)


def _mlp_arrays(seed=0):
    torch.manual_seed(seed)
    return {k: v.numpy().copy() for k, v in RECIPES["digits-mlp"].build().state_dict().items()}


TINY_RECIPE = textwrap.dedent(
    """
    import torch.nn as nn

    def build():
        \"\"\"A 4-input, 3-class linear model.\"\"\"
        return nn.Linear(4, 3)

    def not_a_module():
        return 42

    def broken():
        raise RuntimeError("boom in user code")
    """
)


def test_registry_names_shapes_and_sizes():
    assert {"digits-mlp", "digits-cnn"} <= set(RECIPES)
    mlp, cnn = RECIPES["digits-mlp"], RECIPES["digits-cnn"]
    assert mlp.input_shape == (64,) and cnn.input_shape == (1, 8, 8)
    assert mlp.num_classes == cnn.num_classes == 10
    assert sum(p.numel() for p in mlp.build().parameters()) == 9610
    assert sum(p.numel() for p in cnn.build().parameters()) == 38282
    assert not mlp.user_code and "built in" in mlp.describe()
    # Both accept flat (N, 64), (N, 8, 8) and (N, 1, 8, 8) inputs.
    for shape in [(5, 64), (5, 8, 8), (5, 1, 8, 8)]:
        assert cnn.build()(torch.zeros(shape)).shape == (5, 10)
        assert mlp.build()(torch.zeros(shape)).shape == (5, 10)


def test_resolve_uses_registered_name_from_metadata(tmp_path):
    model = _write(tmp_path / "m.safetensors", _mlp_arrays(), {"inspector.lab.recipe": "digits-mlp"})
    assert resolve(None, model) is RECIPES["digits-mlp"]
    assert resolve("digits-cnn", model) is RECIPES["digits-cnn"]  # an explicit spec wins


def test_resolve_without_metadata_asks_for_arch(tmp_path):
    model = _write(tmp_path / "m.safetensors", _mlp_arrays())
    with pytest.raises(RecipeError, match="--arch"):
        resolve(None, model)


def test_metadata_never_selects_user_code(tmp_path):
    marker = tmp_path / "ran.txt"
    code = tmp_path / "evil.py"
    code.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef build():\n    pass\n")
    model = _write(tmp_path / "m.safetensors", _mlp_arrays(), {"inspector.lab.recipe": f"{code}:build"})
    with pytest.raises(RecipeError, match="not built in"):
        resolve(None, model)
    assert not marker.exists()


def test_unknown_name_lists_registered():
    with pytest.raises(RecipeError, match="digits-cnn, digits-mlp"):
        resolve("resnet-9000")


def test_path_spec_runs_user_file(tmp_path):
    code = tmp_path / "tiny.py"
    code.write_text(TINY_RECIPE)
    recipe = resolve(f"{code}:build")
    assert recipe.user_code and "your own code" in recipe.describe()
    assert "4-input" in recipe.description
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    model = _write(tmp_path / "t.safetensors", {"weight": w, "bias": np.ones(3, np.float32)})
    module = build_module(f"{code}:build", model)
    assert np.array_equal(module.weight.detach().numpy(), w)
    assert not module.training


def test_module_spec(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg_recipes"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "arch.py").write_text(TINY_RECIPE)
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = resolve("userpkg_recipes.arch:build")
    assert recipe.user_code and recipe.source == "module userpkg_recipes.arch"
    assert isinstance(recipe.build(), torch.nn.Linear)


@pytest.mark.parametrize(
    "suffix, message",
    [
        ("build_nothing", "has no function 'build_nothing'"),
        ("broken", "boom in user code"),
        ("not_a_module", "not a torch.nn.Module"),
    ],
)
def test_bad_user_functions(tmp_path, suffix, message):
    code = tmp_path / "tiny.py"
    code.write_text(TINY_RECIPE)
    model = _write(
        tmp_path / "t.safetensors", {"weight": np.zeros((3, 4), np.float32), "bias": np.zeros(3, np.float32)}
    )
    with pytest.raises(RecipeError, match=message):
        build_module(f"{code}:{suffix}", model)


def test_missing_file_and_import_errors(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        resolve(f"{tmp_path}/nope.py:build")
    with pytest.raises(RecipeError, match="ModuleNotFoundError"):
        resolve("no_such_package_xyz.mod:build")
    (tmp_path / "syntax.py").write_text("def build(:\n")
    with pytest.raises(RecipeError, match="SyntaxError"):
        resolve(f"{tmp_path}/syntax.py:build")


def test_name_mismatch_lists_missing_and_unexpected(tmp_path):
    arrays = _mlp_arrays()
    arrays["layer1.weight"] = arrays.pop("fc1.weight")
    arrays["extra.scale"] = np.ones(2, np.float32)
    model = _write(tmp_path / "m.safetensors", arrays)
    with pytest.raises(RecipeError) as info:
        build_module("digits-mlp", model)
    msg = str(info.value)
    assert "missing from the file: fc1.weight" in msg
    assert "not in the architecture: layer1.weight, extra.scale" in msg or (
        "layer1.weight" in msg and "extra.scale" in msg
    )


def test_shape_mismatch_lists_names_and_shapes(tmp_path):
    arrays = _mlp_arrays()
    arrays["fc2.weight"] = np.zeros((10, 64), np.float32)
    arrays["fc2.bias"] = np.zeros(11, np.float32)
    model = _write(tmp_path / "m.safetensors", arrays)
    with pytest.raises(RecipeError) as info:
        build_module("digits-mlp", model)
    msg = str(info.value)
    assert "fc2.weight (file [10, 64], model [10, 128])" in msg
    assert "fc2.bias (file [11], model [10])" in msg
    assert "fc1" not in msg


def test_state_dict_from_keeps_stored_dtypes(tmp_path):
    vals = np.array([1.0, -2.5, 0.15625, 3e-3], dtype=np.float32)
    from safetensors.torch import save_file as torch_save

    torch_save(
        {
            "a": torch.from_numpy(vals).to(torch.bfloat16),
            "b": torch.from_numpy(vals).to(torch.float16),
            "c": torch.arange(4, dtype=torch.int64),
        },
        str(tmp_path / "d.safetensors"),
    )
    sd = state_dict_from(open_model(tmp_path / "d.safetensors"))
    assert sd["a"].dtype == torch.bfloat16 and sd["b"].dtype == torch.float16 and sd["c"].dtype == torch.int64
    raw = read_tensor(open_model(tmp_path / "d.safetensors")["a"])  # the stored bits, as uint16
    assert raw.dtype == np.uint16
    assert np.array_equal(sd["a"].view(torch.int16).numpy().view(np.uint16), raw)
    assert torch.equal(sd["a"], torch.from_numpy(vals).to(torch.bfloat16))
    assert torch.equal(sd["b"], torch.from_numpy(vals).to(torch.float16))


def test_fp16_weights_load_into_fp32_module(tmp_path):
    arrays = {k: v.astype(np.float16) for k, v in _mlp_arrays().items()}
    model = _write(tmp_path / "h.safetensors", arrays, {"inspector.lab.recipe": "digits-mlp"})
    module = build_module(None, model)
    assert module.fc1.weight.dtype == torch.float32
    assert np.array_equal(module.fc1.weight.detach().numpy(), arrays["fc1.weight"].astype(np.float32))


def test_importing_recipes_and_evaluate_does_not_import_torch():
    code = "import sys, inspector.core.evaluate.recipes, inspector.core.evaluate.accuracy, inspector.core.formats.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
