"""Hugging Face folders and shard indexes with torch ``.bin`` weights open by content, never by file name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inspector.core.errors import MalformedFileError, UnsupportedFormatError
from inspector.core.formats import open_model, read_tensor

torch = pytest.importorskip("torch")


def _state_dict() -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "embed.weight": torch.randn(11, 4, generator=g),
        "layer.0.weight": torch.randn(4, 4, generator=g),
        "layer.0.bias": torch.randn(4, generator=g),
        "head.weight": torch.randn(3, 4, generator=g).half(),
    }


def _shard(folder: Path, sd: dict, names: list[list[str]], legacy: bool = False) -> Path:
    """``pytorch_model-0000i-of-0000n.bin`` shards holding ``names[i]`` and the index that maps them."""
    wmap = {}
    for i, group in enumerate(names, 1):
        fname = f"pytorch_model-{i:05d}-of-{len(names):05d}.bin"
        torch.save({n: sd[n] for n in group}, folder / fname, _use_new_zipfile_serialization=not legacy)
        wmap.update({n: fname for n in group})
    index = folder / "pytorch_model.bin.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": wmap}))
    return index


def _check_same(mf, sd: dict) -> None:
    assert sorted(mf.names) == sorted(sd)
    for name, t in sd.items():
        got = read_tensor(mf[name])
        assert got.tobytes() == t.contiguous().numpy().tobytes(), name


def test_folder_with_pytorch_model_bin_opens(tmp_path):
    sd = _state_dict()
    torch.save(sd, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text("{}")
    mf = open_model(tmp_path)
    assert mf.format == "pytorch-zip" and mf.path.name == "pytorch_model.bin"
    _check_same(mf, sd)


@pytest.mark.parametrize("legacy", [False, True])
def test_bin_index_reads_torch_shards(tmp_path, legacy):
    sd = _state_dict()
    index = _shard(tmp_path, sd, [["embed.weight", "layer.0.weight"], ["layer.0.bias", "head.weight"]], legacy)
    for target in (index, tmp_path):  # the index itself, or the folder that holds it
        mf = open_model(target)
        assert mf.format == ("pytorch-legacy-sharded" if legacy else "pytorch-zip-sharded")
        assert len(mf.files) == 3 and mf.files[0] == index
        _check_same(mf, sd)


def test_bin_index_shard_missing_a_tensor_is_named(tmp_path):
    sd = _state_dict()
    index = _shard(tmp_path, sd, [["embed.weight"], ["layer.0.bias"]])
    data = json.loads(index.read_text())
    data["weight_map"]["layer.0.weight"] = "pytorch_model-00001-of-00002.bin"
    index.write_text(json.dumps(data))
    with pytest.raises(MalformedFileError, match="'layer.0.weight' is mapped to"):
        open_model(index)


def test_bin_index_duplicate_tensor_across_shards_is_refused(tmp_path):
    sd = _state_dict()
    torch.save({"a": sd["layer.0.bias"]}, tmp_path / "s1.bin")
    torch.save({"a": sd["layer.0.bias"], "b": sd["embed.weight"]}, tmp_path / "s2.bin")
    index = tmp_path / "pytorch_model.bin.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "s1.bin", "b": "s2.bin"}}))
    with pytest.raises(MalformedFileError, match="appears in shards"):
        open_model(index)


def test_bin_index_never_blames_the_download_for_its_format(tmp_path):
    """The old reader took every shard for safetensors and called a good torch shard truncated."""
    sd = _state_dict()
    index = _shard(tmp_path, sd, [list(sd)])
    mf = open_model(index)
    assert "download" not in json.dumps(dict(mf.metadata))
    _check_same(mf, sd)


def test_bin_index_problems_in_the_index_itself_are_reported(tmp_path):
    index = tmp_path / "pytorch_model.bin.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "../outside.bin"}}))
    with pytest.raises(MalformedFileError, match="outside the model folder"):
        open_model(index)
    index.write_text(json.dumps({"weight_map": {"a": "missing.bin"}}))
    with pytest.raises(MalformedFileError, match="missing"):
        open_model(index)


def test_safetensors_shards_still_go_to_the_safetensors_reader(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "m-1.safetensors"))
    save_file({"b": np.zeros(2, np.float32)}, str(tmp_path / "m-2.safetensors"))
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors"}}))
    assert open_model(tmp_path).format == "safetensors-sharded"


def test_training_checkpoint_folder_opens_the_model_and_names_the_rest(tmp_path):
    sd = _state_dict()
    torch.save(sd, tmp_path / "pytorch_model.bin")
    torch.save({"state": {}, "param_groups": []}, tmp_path / "optimizer.pt")
    torch.save({"cpu": torch.zeros(4, dtype=torch.uint8)}, tmp_path / "rng_state.pth")
    mf = open_model(tmp_path)
    assert mf.path.name == "pytorch_model.bin"
    assert mf.metadata["folder.training_state_files"] == "optimizer.pt, rng_state.pth"


def test_folder_with_one_checkpoint_of_another_name_opens(tmp_path):
    sd = _state_dict()
    torch.save(sd, tmp_path / "resnet_epoch3.pth")
    assert open_model(tmp_path).path.name == "resnet_epoch3.pth"


def test_folder_messages_say_what_was_found(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UnsupportedFormatError, match="no model file"):
        open_model(tmp_path)
    torch.save({"state": {}}, tmp_path / "optimizer.pt")
    with pytest.raises(UnsupportedFormatError, match=r"training state \(optimizer.pt\) but no model weights"):
        open_model(tmp_path)
    torch.save({"a": torch.ones(1)}, tmp_path / "a.pt")
    torch.save({"a": torch.ones(1)}, tmp_path / "b.pt")
    with pytest.raises(UnsupportedFormatError, match="2 model files and no index"):
        open_model(tmp_path)


def test_index_naming_an_index_as_shard_is_refused(tmp_path):
    inner = tmp_path / "inner.index.json"
    inner.write_text(json.dumps({"weight_map": {"a": "x.bin"}}))
    torch.save({"a": torch.ones(1)}, tmp_path / "x.bin")
    outer = tmp_path / "outer.bin.index.json"
    outer.write_text(json.dumps({"weight_map": {"a": "inner.index.json"}}))
    with pytest.raises(MalformedFileError, match="not a weight file"):
        open_model(outer)


def test_two_indexes_naming_each_other_do_not_loop(tmp_path):
    torch.save({"a": torch.ones(1)}, tmp_path / "x.bin")
    a, b = tmp_path / "a.bin.index.json", tmp_path / "b.bin.index.json"
    a.write_text(json.dumps({"weight_map": {"a": "b.bin.index.json", "z": "x.bin"}}))
    b.write_text(json.dumps({"weight_map": {"a": "a.bin.index.json", "z": "x.bin"}}))
    with pytest.raises(MalformedFileError, match="not a weight file"):
        open_model(a)


def test_folder_with_a_real_module_state_dict(tmp_path):
    """module.state_dict() is an OrderedDict whose _metadata attribute the pickle sets: it must still open."""
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    torch.save(net.state_dict(), tmp_path / "pytorch_model.bin")
    mf = open_model(tmp_path)
    assert mf.names == list(net.state_dict())
    assert mf.parameters == sum(p.numel() for p in net.parameters()) + 2 * 3  # + running mean and var


def test_a_folder_of_several_safetensors_opens_the_one_a_loader_takes(tmp_path: Path) -> None:
    """``model.safetensors`` beside ``model.int8.safetensors`` (another precision): a loader takes the first, the
    other goes with the folder as weights to open on their own; a folder of several with no default stays a
    question, and a fleet scan takes the folder for one model exactly when ``open_model`` does."""
    from safetensors.numpy import save_file

    from inspector.fleet import is_one_model

    w = {"fc.weight": np.ones((4, 4), np.float32)}
    (tmp_path / "config.json").write_text("{}")
    save_file(w, str(tmp_path / "model.safetensors"))
    save_file({"fc.weight": np.ones((4, 4), np.int8)}, str(tmp_path / "model.int8.safetensors"))
    mf = open_model(tmp_path)
    assert mf.path.name == "model.safetensors"
    assert [h.role for h in mf.hidden if "model.int8" in h.where] == ["weights"]
    assert is_one_model(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "a.safetensors")
    with pytest.raises(UnsupportedFormatError, match="2 .safetensors files and no index"):
        open_model(tmp_path)
    assert not is_one_model(tmp_path)
