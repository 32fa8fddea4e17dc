"""The wider lab's encodings round-trip, and its LSB variants (offset, fp16, bf16) decode bit-exactly from a file."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.formats import open_model
from inspector.lab import attacks, capcodes, codec, decoders, proofs, secrets
from inspector.lab.files import BF16, write_safetensors
from inspector.lab.variants import bf16_storage


@pytest.mark.parametrize("stem", sorted(capcodes.CODES))
def test_capacity_codes_round_trip(stem):
    code = capcodes.CODES[stem]
    rng = np.random.default_rng(1)
    values = rng.integers(0, 1 << code.value_bits, 200)
    labels = capcodes.encode_labels(code, values)
    assert labels.size == values.size * code.per_value
    used = set(np.unique(labels).tolist())
    if code.labels == "split":
        assert used <= set(range(9))
    else:
        assert used <= set(code.alphabet)
    # a model that answers every query with its label (one-hot) gives the values back
    onehot = np.eye(10)[labels]
    assert np.array_equal(capcodes.decode_labels(code, onehot), values)
    q = capcodes.queries(code, 7, values.size)
    assert q.shape == (labels.size, codec.PIXELS) and q.dtype == np.float32
    if code.generator == "sparse":
        assert ((q != 0).sum(axis=1) == 2).all()  # two marker pixels, as in the authors' code
    else:
        assert q.min() >= 0 and q.max() <= 1
        assert np.array_equal(q, capcodes.queries(code, 7, values.size))  # regenerated from the key


def test_binary_and_arbitrary_alphabets_are_not_the_first_classes():
    assert capcodes.CODES["cap-bin"].per_value == 4
    assert capcodes.CODES["cap-arb"].per_value == 3  # 3 trits hold a 4-bit value
    assert capcodes.CODES["cap-text"].per_value == 3  # 3 decimal digits hold a byte
    assert set(capcodes.CODES["cap-noise-perm"].alphabet) != {0, 1, 2, 3}


def test_secrets():
    t = secrets.text_records(500)
    assert len(t) == 500 and t == secrets.text_records(500)
    assert t.startswith(b"id=0000;name=") and b"card=" in t
    rows = np.random.default_rng(0).normal(size=(3, 30)).astype(np.float32)
    back = secrets.bytes_to_records(secrets.record_bytes(rows), 30)
    assert np.allclose(back, rows, atol=1e-2)


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a.weight": rng.normal(0, 0.1, (40, 30)).astype(np.float32),
        "b.weight": rng.normal(0, 0.1, (20, 40)).astype(np.float32),
        "b.bias": rng.normal(0, 0.1, 20).astype(np.float32),
    }


@pytest.mark.parametrize("storage", ["F32", "F16", "BF16"])
def test_lsb_at_an_offset_decodes_bit_exactly(tmp_path, storage):
    arrays = _arrays()
    if storage == "F16":
        arrays = {k: v.astype(np.float16) for k, v in arrays.items()}
    elif storage == "BF16":
        arrays = bf16_storage(arrays)
        assert all(v.dtype == BF16 for v in arrays.values())
    bits = 4 if storage == "BF16" else 8
    order = ["a.weight", "b.bias", "b.weight"]  # the writer's storage order (same element size: by name)
    secret = secrets.text_records(300)
    out = attacks.embed_lsb(arrays, order, secret, bits, offset=1237)
    path = tmp_path / "m.safetensors"
    write_safetensors(path, out, {})
    model = open_model(path)
    assert [t.name for t in model.tensors] == order
    assert model[order[0]].dtype.name == storage
    assert decoders.decode_lsb(model, bits, len(secret), offset=1237) == secret
    p = proofs.lsb_bytes_proof(model, bits, secret, offset=1237)
    assert p["bit_error_rate"] == 0.0 and p["exact"]
    # read from the wrong place, the payload is noise
    assert decoders.bit_error_rate(decoders.decode_lsb(model, bits, len(secret)), secret) > 0.3
    # elements before the offset keep their bits
    first = np.asarray(out["a.weight"]).reshape(-1)[:1237]
    assert np.array_equal(first.view(np.uint8), np.asarray(arrays["a.weight"]).reshape(-1)[:1237].view(np.uint8))


def test_embed_lsb_refuses_a_payload_past_the_end():
    with pytest.raises(ValueError, match="exceeds capacity"):
        attacks.embed_lsb(_arrays(), ["a.weight"], bytes(1200), 8, offset=100)
