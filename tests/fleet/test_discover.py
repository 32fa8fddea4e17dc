"""Which models a batch covers: folder walks with globs, model folders counted once, manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.core.errors import InspectorError
from inspector.fleet import discover, is_one_model, read_manifest
from tests.fleet.conftest import FLEET_IDS, write_clean


def rel(units, root: Path) -> set[str]:
    return {Path(u.id).relative_to(root).as_posix() for u in units}


def test_folder_walk_finds_every_model_once_and_a_hugging_face_folder_as_one(fleet):
    units = discover([fleet])
    assert rel(units, fleet) == FLEET_IDS
    hf = next(u for u in units if u.id.endswith("hf-repo"))
    assert Path(hf.path).is_dir()
    assert any(w.endswith("optimizer.pt") for w in hf.watch)  # a change to any file of it is noticed
    assert sum(u.nbytes for u in units) > 0


def test_include_and_exclude_globs(fleet):
    assert rel(discover([fleet], include=["*.pt"]), fleet) == {"evil.pt", "needs-code.pt"}
    got = rel(discover([fleet], exclude=["team", "evil.pt", "broken*"]), fleet)
    assert got == FLEET_IDS - {
        "team/deep/clean-deep.safetensors",
        "team/sub/lsb.safetensors",
        "evil.pt",
        "broken.safetensors",
    }
    assert rel(discover([fleet], include=["team/deep/*"]), fleet) == {"team/deep/clean-deep.safetensors"}


def test_sharded_index_and_trainer_checkpoint_count_as_one_model(tmp_path):
    root = tmp_path / "runs"
    shards = root / "sharded"
    write_clean(shards / "model-00001-of-00002.safetensors", 1)
    write_clean(shards / "model-00002-of-00002.safetensors", 2)
    (shards / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}})
    )
    ckpt = root / "checkpoint-500"
    write_clean(ckpt / "model.safetensors", 3)
    (ckpt / "trainer_state.json").write_text("{}")
    (ckpt / "optimizer.pt").write_bytes(b"x")
    (ckpt / "rng_state.pth").write_bytes(b"x")
    assert rel(discover([root]), root) == {"sharded", "checkpoint-500"}
    assert is_one_model(ckpt) and is_one_model(shards) and not is_one_model(root)


def test_manifest_of_paths_and_of_jsonl_descriptors(fleet, tmp_path):
    text = tmp_path / "list.txt"
    text.write_text(f"# models to release\n{fleet / 'clean-0.safetensors'}\n\nfleet/evil.pt\nfleet/team\n")
    units = read_manifest(text)
    assert rel(units, fleet) == {
        "clean-0.safetensors",
        "evil.pt",
        "team/deep/clean-deep.safetensors",
        "team/sub/lsb.safetensors",
    }
    jsonl = tmp_path / "models.jsonl"
    jsonl.write_text(
        json.dumps({"path": "fleet/clean-1.safetensors", "id": "acme/clean-1", "revision": "abc"})
        + "\n"
        + json.dumps({"path": "fleet/hf-repo"})
        + "\n"
    )
    units = read_manifest(jsonl)
    assert [u.id for u in units][0] == "acme/clean-1"
    assert units[0].meta == {"revision": "abc"}
    assert Path(units[1].path).is_dir()


@pytest.mark.parametrize(
    "content, problem",
    [('{"id": "x"}\n', 'line 1 has no "path"'), ('{"path": \n', "line 1 is not valid JSON")],
)
def test_bad_manifest_lines_are_named(tmp_path, content, problem):
    m = tmp_path / "m.jsonl"
    m.write_text(content)
    with pytest.raises(InspectorError, match=problem):
        read_manifest(m)


def test_same_model_twice_counts_once_but_two_ids_alike_are_refused(fleet, tmp_path):
    units = discover([fleet / "clean-0.safetensors", fleet / "clean-0.safetensors"])
    assert len(units) == 1
    m = tmp_path / "dup.jsonl"
    m.write_text(
        json.dumps({"path": str(fleet / "clean-0.safetensors"), "id": "a"})
        + "\n"
        + json.dumps({"path": str(fleet / "clean-1.safetensors"), "id": "a"})
        + "\n"
    )
    with pytest.raises(InspectorError, match="two models share the id 'a'"):
        discover([], manifests=[m])


def test_gguf_onnx_and_torchscript_files_are_models_too(tmp_path):
    for name in ("llm.gguf", "net.onnx", "vad.jit", "notes.txt", "weights.data"):
        (tmp_path / name).write_bytes(b"x")
    assert rel(discover([tmp_path]), tmp_path) == {"llm.gguf", "net.onnx", "vad.jit"}
