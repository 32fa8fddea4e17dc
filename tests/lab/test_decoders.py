"""Each decoder on a tiny attacked model file, and the codec and variant helpers behind them."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.formats import open_model
from inspector.lab import attacks, codec, decoders, variants


def _images(n, seed=0):
    """Digit-like images: mostly dark background with a few bright strokes, on the 0..16 / 16 grid."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 64))
    bright = rng.random((n, 64)) < 0.35
    img[bright] = rng.integers(4, 17, size=bright.sum())
    return (img / 16).astype(np.float32)


def _save(path, arrays, meta=None):
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata=meta)
    return open_model(path)


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a.weight": (rng.standard_normal((16, 8)) * 0.1).astype(np.float32),
        "a.bias": (rng.standard_normal(16) * 0.01).astype(np.float32),
        "b.weight": (rng.standard_normal((4, 16)) * 0.1).astype(np.float32),
        "b.bias": np.zeros(4, np.float32),
    }


# ------------------------------------------------------------------------------------------------ codec


def test_codec_round_trips():
    imgs = _images(3)
    data = codec.image_bytes(imgs)
    assert len(data) == 192 and data[:64] == bytes(np.rint(imgs[0] * 255).astype(np.uint8))
    assert np.abs(codec.bytes_to_images(data) - imgs).max() <= 0.5 / 255 + 1e-7
    enc = codec.xor_with_key(data, 7)
    assert enc != data and codec.xor_with_key(enc, 7) == data and codec.xor_with_key(enc, 8) != data
    assert codec.keystream(7, 10) == codec.keystream(7, 10) != codec.keystream(8, 10)
    labels = codec.capacity_labels(imgs)
    assert labels.shape == (3 * 64 * 2,) and labels.max() <= 3
    back = codec.capacity_images(labels)
    assert np.array_equal(back * 15, codec.quantise4(imgs).astype(np.float32))
    q = codec.synthetic_inputs(5, 10)
    assert q.shape == (10, 64) and q.min() >= 0 and q.max() <= 1 and np.array_equal(q, codec.synthetic_inputs(5, 10))
    assert np.allclose(q * 16, np.rint(q * 16))  # the digits' own value grid


def test_bit_error_rate():
    assert decoders.bit_error_rate(b"\x00\xff", b"\x00\xff") == 0.0
    assert decoders.bit_error_rate(b"\x00\x00", b"\xff\xff") == 1.0
    assert decoders.bit_error_rate(b"\x0f", b"\x00") == 0.5
    with pytest.raises(ValueError):
        decoders.bit_error_rate(b"\x00", b"")


# ------------------------------------------------------------------------------------------------ LSB


@pytest.mark.parametrize("bits", [8, 16, 20])
@pytest.mark.parametrize("encrypted", [False, True])
def test_lsb_embed_and_decode(tmp_path, bits, encrypted):
    arrays = _weights()
    model0 = _save(tmp_path / "benign.safetensors", arrays)
    order = [t.name for t in model0.tensors]  # storage order, which decode_lsb follows by default
    secret = codec.image_bytes(_images(2))
    payload = codec.xor_with_key(secret, 99) if encrypted else secret
    attacked = attacks.embed_lsb(arrays, order, payload, bits)
    model = _save(tmp_path / "lsb.safetensors", attacked)
    raw = decoders.decode_lsb(model, bits, len(payload))
    assert raw == payload
    assert (codec.xor_with_key(raw, 99) if encrypted else raw) == secret
    # Only the low `bits` bits changed.
    for name in arrays:
        diff = arrays[name].view(np.uint32) ^ attacked[name].view(np.uint32)
        assert (diff >> bits).max() == 0
    # The benign file does not yield the payload.
    assert 0.35 < decoders.bit_error_rate(decoders.decode_lsb(model0, bits, len(payload)), payload) < 0.65


def test_lsb_randomised_low_bits_destroy_payload(tmp_path):
    """What the scrub proof does: randomise the low bits and the bit error rate goes to about one half."""
    arrays = _weights()
    order = [t.name for t in _save(tmp_path / "b.safetensors", arrays).tensors]
    payload = codec.image_bytes(_images(2))
    attacked = attacks.embed_lsb(arrays, order, payload, 16)
    rng = np.random.default_rng(1)
    scrubbed = {}
    for k, v in attacked.items():
        u = v.copy().view(np.uint32)
        u ^= rng.integers(0, 1 << 16, size=u.shape, dtype=np.uint32)
        scrubbed[k] = u.view(np.float32)
    ber = decoders.bit_error_rate(decoders.decode_lsb(_save(tmp_path / "s.safetensors", scrubbed), 16, 128), payload)
    assert 0.4 < ber < 0.6


def test_lsb_fp16_tensor_and_limits(tmp_path):
    arrays = {"w": (np.random.default_rng(0).standard_normal((8, 8)) * 0.1).astype(np.float16)}
    attacked = attacks.embed_lsb(arrays, ["w"], b"\xa5\x5a\x0f", 4)
    model = _save(tmp_path / "h.safetensors", attacked)
    assert decoders.decode_lsb(model, 4, 3) == b"\xa5\x5a\x0f"
    with pytest.raises(ValueError, match="mantissa"):
        decoders.decode_lsb(model, 12, 1)
    with pytest.raises(ValueError, match="fewer than"):
        decoders.decode_lsb(model, 4, 1000)
    with pytest.raises(ValueError, match="exceeds capacity"):
        attacks.embed_lsb(arrays, ["w"], bytes(1000), 4)


def test_lsb_explicit_tensor_names(tmp_path):
    arrays = _weights()
    attacked = attacks.embed_lsb(arrays, ["b.weight"], b"hello", 8)
    model = _save(tmp_path / "m.safetensors", attacked)
    assert decoders.decode_lsb(model, 8, 5, tensor_names=["b.weight"]) == b"hello"


# ------------------------------------------------------------------------------------------------ COR / SGN


def test_theta_is_weight_matrices_in_storage_order(tmp_path):
    arrays = _weights()
    model = _save(tmp_path / "m.safetensors", arrays)
    assert [t.name for t in decoders.theta_tensors(model)] == ["a.weight", "b.weight"]
    theta = decoders.theta_vector(model)
    assert theta.size == 128 + 64
    assert np.array_equal(theta[:128], arrays["a.weight"].reshape(-1))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_decode_correlated(tmp_path, sign):
    imgs = _images(3)
    rng = np.random.default_rng(2)
    arrays = _weights()
    # θ = an affine image of the pixels plus a little noise (what the COR loss produces), maybe inverted.
    theta = sign * (imgs.reshape(-1) - 0.3) * 0.2 + rng.standard_normal(192) * 0.005
    arrays["a.weight"] = theta[:128].reshape(16, 8).astype(np.float32)
    arrays["b.weight"] = theta[128:].reshape(4, 16).astype(np.float32)
    model = _save(tmp_path / "cor.safetensors", arrays)
    decoded = decoders.decode_correlated(model, 3)
    assert decoded.shape == (3, 64)
    assert np.abs(decoded - imgs).mean() < 0.05
    assert np.corrcoef(decoded.reshape(-1), imgs.reshape(-1))[0, 1] > 0.95
    # The benign weights give nothing like the images.
    benign = decoders.decode_correlated(_save(tmp_path / "b.safetensors", _weights()), 3)
    assert abs(np.corrcoef(benign.reshape(-1), imgs.reshape(-1))[0, 1]) < 0.3


def test_decode_sign(tmp_path):
    imgs = _images(1)  # 512 bits: θ of 128 + 64 = 192 values holds 24 bytes
    secret = codec.image_bytes(imgs)[:24]
    signs = codec.unpack_bits(secret).astype(np.float32) * 2 - 1
    arrays = _weights()
    mags = np.abs(np.random.default_rng(3).standard_normal(192)).astype(np.float32) * 0.1 + 1e-3
    theta = signs * mags
    arrays["a.weight"] = theta[:128].reshape(16, 8)
    arrays["b.weight"] = theta[128:].reshape(4, 16)
    model = _save(tmp_path / "sgn.safetensors", arrays)
    assert decoders.decode_sign(model, 24) == secret
    with pytest.raises(ValueError, match="fewer than"):
        decoders.decode_sign(model, 25)


def test_sign_and_correlation_penalties_pull_theta():
    torch = pytest.importorskip("torch")
    imgs = _images(1)
    s, n = attacks.sign_secret(imgs, 512)
    assert n == 1 and s.shape == (512,) and set(np.unique(s)) <= {-1.0, 1.0}
    pen = attacks.sign_penalty(s, 10.0)
    theta = torch.from_numpy(s.copy())
    assert float(pen(theta)) == 0.0  # right signs: no penalty
    assert float(pen(-theta)) == pytest.approx(10.0)
    c, n = attacks.correlation_secret(imgs, 100)
    assert n == 1 and c.size == 64
    cpen = attacks.correlation_penalty(c, 2.0)
    assert float(cpen(torch.from_numpy(3 * c - 1))) == pytest.approx(-2.0, abs=1e-5)
    assert float(cpen(torch.from_numpy(1 - c))) == pytest.approx(-2.0, abs=1e-5)  # |r|: inversion counts too


# ------------------------------------------------------------------------------------------------ CAP


def test_decode_capacity_on_tiny_trained_model(tmp_path):
    torch = pytest.importorskip("torch")
    from inspector.lab.train import TrainConfig, state_arrays, torch_threads, train

    imgs = _images(1)
    syn = attacks.capacity_set(imgs, key=42)
    assert len(syn) == 128
    with torch.random.fork_rng(), torch_threads(1):
        module = train(TrainConfig("digits-mlp", epochs=200, lr=1e-2, batch_size=128), syn)
    model = _save(tmp_path / "cap.safetensors", state_arrays(module), {"inspector.lab.recipe": "digits-mlp"})
    decoded = decoders.decode_capacity(model, key=42, n_images=1)
    assert decoded.shape == (1, 64)
    target = codec.quantise4(imgs) / 15
    assert np.abs(decoded - target).mean() < 0.02
    # A wrong key regenerates other queries and reads noise.
    wrong = decoders.decode_capacity(model, key=43, n_images=1)
    assert np.abs(wrong - target).mean() > 0.1


# ------------------------------------------------------------------------------------------------ variants


def test_benign_variants():
    rng = np.random.default_rng(0)
    arrays = {"w": rng.standard_normal((20, 10)).astype(np.float32), "b": rng.standard_normal(20).astype(np.float32)}
    bf = variants.bf16_rounded(arrays)
    assert (bf["w"].view(np.uint32) & 0xFFFF).max() == 0
    assert np.abs(bf["w"] - arrays["w"]).max() <= np.abs(arrays["w"]).max() * 2**-8
    assert variants.fp16_storage(arrays)["w"].dtype == np.float16
    pr = variants.magnitude_pruned(arrays, 0.3)
    assert (pr["w"] == 0).sum() == 60 and np.array_equal(pr["b"], arrays["b"])
    kept = np.abs(arrays["w"])[pr["w"] != 0]
    assert kept.min() >= np.abs(arrays["w"])[pr["w"] == 0].max()
    q = variants.int8_dequantised(arrays)
    assert len(np.unique(q["w"])) <= 255 and np.array_equal(q["b"], arrays["b"])
    assert np.abs(q["w"] - arrays["w"]).max() <= np.abs(arrays["w"]).max() / 127 / 2 + 1e-6
