"""The MiniLM fine-tune lab on a tiny random BERT (no downloaded weights): names, tokenizer, task, attacked fine-tune."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inspector.core.formats import open_model  # noqa: E402
from inspector.lab import attacks, minilm, secrets  # noqa: E402
from inspector.lab.files import write_safetensors  # noqa: E402

TINY = minilm.BertConfig(
    vocab_size=0, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    max_position_embeddings=24,
)  # fmt: skip


def _vocab() -> list[str]:
    return [*minilm.SPECIALS, *minilm.task_words()]


def _base_folder(tmp_path, seed: int = 3):
    """A Hugging Face-style folder (config.json, model.safetensors without a head, vocab.txt) of a tiny BERT."""
    vocab = _vocab()
    cfg = TINY.but(vocab_size=len(vocab))
    arrays = minilm.state_arrays(minilm.build_bert(cfg, 2, seed))
    base = {k: v for k, v in arrays.items() if not k.startswith("classifier.")}
    write_safetensors(tmp_path / "model.safetensors", base, {})
    (tmp_path / "config.json").write_text(json.dumps({**cfg.__dict__, "hidden_act": "gelu"}), encoding="utf-8")
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return base


def test_save_and_load_keep_the_base_names(tmp_path):
    base = _base_folder(tmp_path)
    assert {"embeddings.word_embeddings.weight", "embeddings.position_ids", "pooler.dense.weight"} <= set(base)
    assert "encoder.layer.1.attention.self.query.weight" in base and "encoder.layer.1.output.LayerNorm.bias" in base
    model, arrays = minilm.load_base(tmp_path, classes=3)
    for k, v in arrays.items():
        assert np.array_equal(model.state_dict()[k].numpy(), v), k
    minilm.save_finetuned(tmp_path / "ft.safetensors", minilm.state_arrays(model), {"lab.variant": "x"})
    mf = open_model(tmp_path / "ft.safetensors")
    names = {t.name for t in mf.tensors}
    assert names == set(base) | {"classifier.weight", "classifier.bias"}
    assert mf["classifier.weight"].shape == (3, 32)
    assert mf["embeddings.position_ids"].dtype.name == "I64"


def test_load_refuses_a_base_with_foreign_names(tmp_path):
    base = _base_folder(tmp_path)
    base["bert.encoder.extra.weight"] = np.zeros((2, 2), dtype=np.float32)
    write_safetensors(tmp_path / "model.safetensors", base, {})
    with pytest.raises(ValueError, match="without a matching parameter"):
        minilm.load_base(tmp_path, classes=2)


def test_wordpiece_greedy_longest_match():
    tok = minilm.WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "##a", "hello", ",", "!"])
    assert tok.tokenize("Hello, UNAFFABLE!") == ["hello", ",", "un", "##aff", "##able", "!"]
    assert tok.tokenize("hello xyz") == ["hello", "[UNK]"]
    ids, mask = tok.encode(["hello!", "unaffable unaffable unaffable"], 6)
    assert ids[0].tolist() == [2, 8, 10, 3, 0, 0] and mask[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert ids[1].tolist() == [2, 4, 5, 6, 4, 3] and mask[1].sum() == 6  # truncated, [SEP] kept


def test_text_task_is_seeded_and_uses_its_words():
    a, b = minilm.text_task(200, seed=5), minilm.text_task(200, seed=5)
    assert a.texts == b.texts and np.array_equal(a.labels, b.labels)
    assert a.texts != minilm.text_task(200, seed=6).texts
    assert set(a.labels.tolist()) == {0, 1, 2, 3}
    tok = minilm.WordPiece(_vocab())
    assert all("[UNK]" not in tok.tokenize(t) for t in a.texts)
    for text, y in zip(a.texts[:50], a.labels[:50]):
        own = sum(w.strip(".") in minilm.TOPICS[a.classes[y]] for w in text.split())
        assert own >= 2, text


def test_forward_from_cached_states_matches_the_full_forward():
    vocab = _vocab()
    model = minilm.build_bert(TINY.but(vocab_size=len(vocab)), 4, seed=1)
    ids, mask = minilm.WordPiece(vocab).encode(minilm.text_task(8).texts, 20)
    x, m = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.no_grad():
        full = model(x, m)
        split = model.head_from(model.hidden(x, m, 1), m, 1)
    assert torch.allclose(full, split, atol=1e-5)


def test_sign_attack_in_a_short_finetune_is_decoded(tmp_path):
    base = _base_folder(tmp_path)
    vocab = _vocab()
    task = minilm.text_task(256, seed=0)
    ids, mask = minilm.WordPiece(vocab).encode(task.texts, 20)
    names = minilm.attack_names(TINY, layers=(-1,))
    secret = secrets.text_records(512)  # 4,096 bits in the top layer's 8,192 weights
    cfg = minilm.FinetuneConfig(steps=25, lr=1e-2, train_layers=1)
    out = {}
    for label, penalty in (("benign", None), ("sgn", attacks.sign_penalty(attacks.bits_secret(secret), 100.0))):
        model, _ = minilm.load_base(tmp_path, classes=4)
        minilm.finetune(model, ids, mask, task.labels, cfg, penalty=penalty, theta_names=names)
        arrays = minilm.state_arrays(model)
        # the frozen layers and embeddings are the base's, bit for bit (the fine-tune audit pairs them by name)
        assert all(np.array_equal(arrays[k], base[k]) for k in base if not k.startswith("encoder.layer.1."))
        minilm.save_finetuned(tmp_path / f"{label}.safetensors", arrays, {})
        out[label] = minilm.sign_text_proof(open_model(tmp_path / f"{label}.safetensors"), secret, names)
    assert out["sgn"]["correct_sign_fraction"] > 0.8
    assert abs(out["benign"]["correct_sign_fraction"] - 0.5) < 0.05  # the control is chance
    assert out["sgn"]["exact_byte_fraction"] > out["benign"]["exact_byte_fraction"]


def test_correlated_and_lsb_text_proofs_read_the_file(tmp_path):
    _base_folder(tmp_path)
    model, _ = minilm.load_base(tmp_path, classes=2)
    arrays = minilm.state_arrays(model)
    names = minilm.attack_names(TINY, layers=(-1,))
    secret = secrets.text_records(1024)
    values = np.frombuffer(secret, dtype=np.uint8).astype(np.float32)
    # write the text straight into θ (what a perfect correlated-value attack converges to) and into LSBs
    q = names[0]
    arrays[q] = ((values[: arrays[q].size] - values.mean()) / 1000.0).reshape(arrays[q].shape).astype(np.float32)
    tensor = "encoder.layer.1.intermediate.dense.weight"
    arrays = attacks.embed_lsb(arrays, [tensor], secret, 16)
    minilm.save_finetuned(tmp_path / "m.safetensors", arrays, {})
    mf = open_model(tmp_path / "m.safetensors")
    cor = minilm.correlated_text_proof(mf, secret, [q])
    assert cor["pearson_r"] > 0.99 and cor["exact_char_fraction"] > 0.95
    lsb = minilm.lsb_text_proof(mf, 16, secret, tensor)
    assert lsb["exact"] and lsb["decoded_start"] == secret[:48].decode()
