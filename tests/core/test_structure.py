"""Structure trained layers have and written payloads mimic: output units whose weights keep one sign (a detection
head's box bins), and input channels with a scale of their own (a pointwise convolution's columns). The second
read of the tensors near a threshold measures both, the judge lets them explain what they explain, and a payload
written into such a layer is still found."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from inspector.core.measure.structure import _Acc
from inspector.core.pipeline import scan

RNG = np.random.default_rng(11)


def _head(rng: np.random.Generator) -> np.ndarray:
    """A 1×1 conv head (64 outputs × 64 channels): each output unit's weights mostly one sign, heavy-tailed."""
    share = rng.choice([0.02, 0.1, 0.5, 0.9], size=(64, 1))
    sign = np.where(rng.random((64, 64)) < share, 1.0, -1.0)
    return (sign * np.abs(rng.standard_t(3, (64, 64))) * 0.05).reshape(64, 64, 1, 1)


def _bits(n: int, rng: np.random.Generator) -> np.ndarray:
    """Bits of digit-like image bytes (background 0, strokes at a few grey levels), MSB first."""
    img = np.zeros((n // 512 + 1, 8, 8), dtype=np.uint8)
    img[:, 1:7, 3] = rng.choice([128, 192, 255], (img.shape[0], 6))
    img[:, 4, 2:6] = rng.choice([64, 255], (img.shape[0], 4))
    return np.unpackbits(img.reshape(-1))[:n]


def _model(path: Path, tensors: dict) -> Path:
    save_file({k: v.astype(np.float32) for k, v in tensors.items()}, str(path))
    return path


def _findings(path: Path, detector: str, tensor: str) -> list:
    r = scan(path)
    return [f for f in r.findings if f.detector == detector and f.tensor == tensor and f.severity != "info"]


def test_row_balance_matches_a_direct_count() -> None:
    x = RNG.normal(0, 1, (40, 24))
    x[:10] = np.abs(x[:10])  # ten rows of one sign
    acc = _Acc(24)
    for part in np.array_split(x.reshape(-1), 7):  # chunks that cut rows
        acc.add(part)
    got = acc.result()
    s = np.sign(x)
    m = s.mean()
    direct = ((s.mean(axis=1) ** 2).mean() - m * m) / (1 - m * m)
    assert math.isclose(got["row_sign_null"], direct, rel_tol=1e-9)
    means = x.mean(axis=0)
    eta2 = (((means - x.mean()) ** 2).mean() / x.var()) - 23 / x.size
    assert math.isclose(got["column_eta"], math.sqrt(max(0.0, eta2)), rel_tol=1e-9)


def test_one_signed_output_units_are_not_written_signs(tmp_path: Path) -> None:
    path = _model(tmp_path / "head.safetensors", {"head.weight": _head(np.random.default_rng(1))})
    r = scan(path)
    f = next(t.features for t in r.tensors if t.name == "head.weight")
    assert f.sign_excess >= 0.3  # against the arcsine law alone it would be a finding
    assert math.isfinite(f.row_sign_null) and f.sign_autocorr - f.row_sign_null < 0.05
    assert not [x for x in r.findings if x.detector == "sign-structure" and x.severity == "suspicious"]


def test_bits_written_into_such_a_head_are_still_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    w = _head(rng).reshape(-1)
    bits = _bits(w.size, rng)
    w = np.abs(w) * np.where(bits == 1, 1.0, -1.0)
    path = _model(tmp_path / "written.safetensors", {"head.weight": w.reshape(64, 64, 1, 1)})
    found = _findings(path, "sign-structure", "head.weight")
    assert found and found[0].severity == "suspicious"


def test_input_channels_with_their_own_scale_are_not_pixel_rows(tmp_path: Path) -> None:
    """A pointwise conv over 64 channels whose columns have a scale and an offset of their own repeats with every
    period dividing 64; the columns explain it."""
    rng = np.random.default_rng(3)
    scale = rng.lognormal(0, 0.8, 64)
    offset = rng.normal(0, 0.12, 64)
    w = (rng.normal(0, 0.05, (18, 64)) * scale + offset).reshape(18, 64, 1, 1)
    path = _model(tmp_path / "cls.safetensors", {"cls.weight": w})
    r = scan(path)
    f = next(t.features for t in r.tensors if t.name == "cls.weight")
    assert f.periodic >= 0.3 and f.column_eta**2 >= 2 * f.periodic**2
    assert not [x for x in r.findings if x.detector == "correlated-value" and x.severity == "suspicious"]


def test_pixel_rows_copied_into_a_pointwise_conv_are_still_found(tmp_path: Path) -> None:
    """The same kind of layer holding a correlated-value copy of 8×8 images that runs across its rows (20
    channels a row): the period of the image width is not the columns' (no order of them makes it)."""
    rng = np.random.default_rng(4)
    img = np.zeros((13, 8, 8))
    img[:, 1:7, 2:6] = rng.uniform(0.5, 1.0, (13, 6, 4))
    img[:, 2:6, 3:5] = 0.0  # a ring: strokes around a hole
    px = img.reshape(-1)[: 40 * 20]
    w = ((px - px.mean()) / px.std() * 0.05 + rng.normal(0, 0.01, px.size)).reshape(40, 20, 1, 1)
    path = _model(tmp_path / "copied.safetensors", {"cls.weight": w})
    found = _findings(path, "correlated-value", "cls.weight")
    assert found and found[0].severity == "suspicious"


def test_output_units_of_alternating_sign_stored_input_major_are_no_bytes(tmp_path: Path) -> None:
    """A classifier over 4 classes stored [inputs, classes] (as PaddlePaddle and ONNX MatMul store it): each
    class's weights keep a sign of their own, so signs repeat every 4 and show at periods 8 and 16 too. No byte
    is written in 4 bits: the pattern beyond period 4 is what counts."""
    rng = np.random.default_rng(5)
    bias = np.array([0.9, -0.9, 0.6, -0.6])
    w = rng.normal(bias, 1.0, (1280, 4)) * 0.05
    r = scan(_model(tmp_path / "head.safetensors", {"fc.weight": w}))
    f = next(t.features for t in r.tensors if t.name == "fc.weight")
    assert f.sign_periodic >= 0.25 and f.sign_eta4 >= 0.9 * f.sign_eta8
    assert not [x for x in r.findings if x.severity == "suspicious"]


def test_text_bits_written_into_signs_keep_their_byte_period(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    text = np.frombuffer(b"the quick brown fox jumps over the lazy dog and keeps running " * 80, dtype=np.uint8)
    bits = np.unpackbits(text)[: 1280 * 4]
    w = np.abs(rng.normal(0, 0.05, 1280 * 4)) * np.where(bits == 1, 1.0, -1.0)
    r = scan(_model(tmp_path / "text.safetensors", {"fc.weight": w.reshape(1280, 4)}))
    found = [x for x in r.findings if x.detector == "sign-structure" and x.severity == "suspicious"]
    assert found and "period of a byte" in found[0].message


def test_a_depthwise_kernel_profile_is_the_kernels_own(tmp_path: Path) -> None:
    """1×7 depthwise kernels whose centre taps outweigh their ends: the profile repeats every 7 weights and so
    at period 28; the taps explain it."""
    rng = np.random.default_rng(7)
    profile = np.array([0.1, 0.3, 1.0, 3.0, 1.0, 0.3, 0.1])
    w = (profile * rng.normal(0.5, 0.5, (120, 1, 1, 7))).astype(np.float32)
    r = scan(_model(tmp_path / "dw.safetensors", {"dw.weight": w}))
    f = next(t.features for t in r.tensors if t.name == "dw.weight")
    assert f.period == 28 and f.periodic >= 0.3
    assert not [x for x in r.findings if x.detector == "correlated-value" and x.severity == "suspicious"]


def test_kernels_that_keep_one_sign_are_not_written_signs(tmp_path: Path) -> None:
    """3×3 kernels that each mostly keep one sign (smooth detectors), heavy-tailed: neighbouring signs agree
    inside a kernel far more than the values' correlation implies, and each kernel's balance explains it."""
    rng = np.random.default_rng(8)
    kernel_sign = np.where(rng.random((24, 96, 1, 1)) < 0.5, 1.0, -1.0)
    flip = np.where(rng.random((24, 96, 3, 3)) < 0.1, -1.0, 1.0)
    w = kernel_sign * flip * np.abs(rng.standard_t(3, (24, 96, 3, 3))) * 0.05
    r = scan(_model(tmp_path / "conv.safetensors", {"conv.weight": w}))
    f = next(t.features for t in r.tensors if t.name == "conv.weight")
    assert f.sign_excess >= 0.14 and math.isfinite(f.unit_sign_null)
    assert not [x for x in r.findings if x.detector == "sign-structure" and x.severity == "suspicious"]


def test_rows_with_a_level_of_their_own_are_not_a_copied_sequence(tmp_path: Path) -> None:
    """A hidden 64×64 matrix stored [inputs, outputs] (ONNX MatMul) whose input units each have a mean effect:
    neighbours in a row share its level, a lag-1 correlation of about η² with no sequence copied."""
    rng = np.random.default_rng(9)
    first = rng.normal(0, 0.05, (64, 32))
    hidden = rng.normal(0, 0.05, (64, 64)) + rng.normal(0, 0.04, (64, 1))
    r = scan(_model(tmp_path / "mm.safetensors", {"a.weight": first, "b.weight": hidden}))
    f = next(t.features for t in r.tensors if t.name == "b.weight")
    assert f.autocorr >= 0.2 and math.isfinite(f.row_eta) and f.row_eta**2 >= 0.8 * f.autocorr
    assert not [x for x in r.findings if x.tensor == "b.weight" and x.severity == "suspicious"]


def test_an_lstm_bias_of_gate_blocks_is_not_written_signs(tmp_path: Path) -> None:
    """An ONNX LSTM's B is [b_ih | b_hh] × 4 gates of H per direction; PyTorch gives b_ih and b_hh the same
    gradients, and each gate keeps a sign of its own (forget gates positive): signs run in blocks of H."""
    rng = np.random.default_rng(12)
    share = np.repeat([0.93, 0.99, 0.18, 0.47], 256)
    half = np.where(rng.random(1024) < share, 1.0, -1.0) * np.abs(rng.normal(0.5, 0.3, 1024))
    b = np.concatenate([half, half + rng.normal(0, 0.02, 1024)])
    bias = np.stack([b, b[::-1]])  # two directions
    r = scan(_model(tmp_path / "lstm.safetensors", {"onnx::LSTM_352": bias}))
    f = next(t.features for t in r.tensors if t.name == "onnx::LSTM_352")
    assert f.sign_excess >= 0.14 and math.isfinite(f.unit_sign_null)
    assert not [x for x in r.findings if x.severity == "suspicious"]


def test_signs_that_run_inside_rows_ending_mid_byte_follow_the_inputs(tmp_path: Path) -> None:
    """A layer over 31 ordered basis functions (radial, Fourier): each output unit's weights vary smoothly along
    its inputs, so neighbouring signs agree inside a row; across row ends they do not."""
    rng = np.random.default_rng(13)
    smooth = np.cumsum(rng.normal(0, 1, (64, 31)), axis=1)
    w = (smooth - smooth.mean(axis=1, keepdims=True)) * np.abs(rng.standard_t(3, (64, 31))) * 0.01
    r = scan(_model(tmp_path / "basis.safetensors", {"a.weight": rng.normal(0, 0.05, (64, 64)), "b.weight": w}))
    f = next(t.features for t in r.tensors if t.name == "b.weight")
    assert f.sign_excess >= 0.14 and f.boundary_sign_corr < f.sign_autocorr / 3
    assert not [x for x in r.findings if x.tensor == "b.weight" and x.severity == "suspicious"]


def test_bits_written_into_rows_ending_mid_byte_run_across_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    bits = _bits(64 * 31, rng)
    w = np.abs(rng.normal(0, 0.05, 64 * 31)) * np.where(bits == 1, 1.0, -1.0)
    r = scan(
        _model(
            tmp_path / "bits.safetensors", {"a.weight": rng.normal(0, 0.05, (64, 64)), "b.weight": w.reshape(64, 31)}
        )
    )
    assert [x for x in r.findings if x.tensor == "b.weight" and x.severity == "suspicious"]


def _position_layer(rows: int, rng: np.random.Generator) -> np.ndarray:
    """A Linear over a one-hot of 66 relative positions (a protein model's positional embedding): each output
    unit's weights vary smoothly along the positions."""
    smooth = np.cumsum(rng.normal(0, 1, (rows, 66)), axis=1)
    return (smooth - smooth.mean(axis=1, keepdims=True)) * np.abs(rng.standard_t(3, (rows, 66))) * 0.01


def test_sign_runs_in_a_few_rows_ending_mid_byte_are_a_warning(tmp_path: Path) -> None:
    """16 rows of 66: 15 row ends, too few to tell whether the agreement crosses them; a warning, not proof."""
    rng = np.random.default_rng(15)
    tensors = {"a.weight": rng.normal(0, 0.05, (64, 64)), "b.weight": _position_layer(16, rng)}
    r = scan(_model(tmp_path / "positions.safetensors", tensors))
    f = next(t.features for t in r.tensors if t.name == "b.weight")
    assert f.sign_excess >= 0.14 and math.isnan(f.boundary_sign_corr)
    found = [x for x in r.findings if x.tensor == "b.weight" and x.detector == "sign-structure"]
    assert found and max(x.score for x in found) >= 0.5  # still said: a reviewer looks at it
    assert not [x for x in found if x.severity == "suspicious"]
    assert "too few to tell" in " ".join(x.message for x in found)


def test_bits_written_into_a_few_wide_rows_are_still_suspicious(tmp_path: Path) -> None:
    """24 rows of 1,001: too few row ends to measure, but rows that wide are no ordered basis of inputs."""
    rng = np.random.default_rng(19)
    bits = _bits(24 * 1001, rng)
    w = np.abs(rng.normal(0, 0.05, 24 * 1001)) * np.where(bits == 1, 1.0, -1.0)
    tensors = {"a.weight": rng.normal(0, 0.05, (64, 64)), "b.weight": w.reshape(24, 1001)}
    r = scan(_model(tmp_path / "wide.safetensors", tensors))
    assert [x for x in r.findings if x.tensor == "b.weight" and x.severity == "suspicious"]


def test_sign_runs_across_enough_row_ends_mid_byte_are_still_measured(tmp_path: Path) -> None:
    """Rows of 66 with 63 row ends: they are measured, and bits written in storage order across them are still
    suspicious. (Near the 30 ends the measure needs, its figure is noisy: 40 such rows of written image bits read
    -0.03 across their 39 ends, and the row-end rule holds them at a warning: a limit of that rule.)"""
    rng = np.random.default_rng(16)
    bits = _bits(64 * 66, rng)
    w = np.abs(rng.normal(0, 0.05, 64 * 66)) * np.where(bits == 1, 1.0, -1.0)
    tensors = {"a.weight": rng.normal(0, 0.05, (64, 64)), "b.weight": w.reshape(64, 66)}
    r = scan(_model(tmp_path / "bits66.safetensors", tensors))
    assert [x for x in r.findings if x.tensor == "b.weight" and x.severity == "suspicious"]


def test_a_table_with_unordered_column_levels_is_not_a_written_image(tmp_path: Path) -> None:
    """A learned table whose rows share one direction (deeplc's per-task table): strong column levels in no
    order along the columns alias into period 32; the column-order null explains them."""
    rng = np.random.default_rng(17)
    common = rng.choice([-1.0, 1.0], 64) * rng.uniform(0.1, 0.45, 64)
    table = common + rng.normal(0, 0.3, (4096, 64))
    r = scan(_model(tmp_path / "tasks.safetensors", {"head.embedding": table}))
    f = next(t.features for t in r.tensors if t.name == "head.embedding")
    assert f.kind == "embedding" and f.column_level_autocorr < 0.3
    assert not [x for x in r.findings if x.tensor == "head.embedding" and x.severity == "suspicious"]


def test_an_image_written_into_a_table_keeps_its_ordered_columns(tmp_path: Path) -> None:
    """Rows of 32-pixel images copied into a 32-wide table: the column levels are the images' columns, smooth
    across the width, so the column-order null does not excuse the period: still suspicious."""
    rng = np.random.default_rng(18)
    cols = np.exp(-(((np.arange(32) - 15.5) / 7.0) ** 2))  # bright middle, dark edges
    rows = np.abs(np.sin(np.arange(4096)[:, None] / 9.0))  # strokes that come and go down the image
    img = 255 * cols * rows * rng.uniform(0.6, 1.0, (4096, 32))
    table = (img - img.mean()) / img.std() * 0.1 + rng.normal(0, 0.02, (4096, 32))
    r = scan(_model(tmp_path / "image-rows.safetensors", {"tok.embedding": table}))
    f = next(t.features for t in r.tensors if t.name == "tok.embedding")
    assert f.kind == "embedding" and f.column_level_autocorr >= 0.3
    assert [x for x in r.findings if x.tensor == "tok.embedding" and x.severity == "suspicious"]


def _whisper_positions(length: int, width: int) -> np.ndarray:
    inc = math.log(10000) / (width // 2 - 1)
    angle = np.arange(length)[:, None] * np.exp(-inc * np.arange(width // 2))[None, :]
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def test_a_sinusoidal_position_table_is_computed_not_written(tmp_path: Path) -> None:
    """Whisper keeps its [sin | cos] position table as a weight: neighbours correlate at 0.67 and the signs run,
    by the formula. It is recognised as computed and left to the low-bit tests."""
    table = _whisper_positions(400, 384).astype(np.float32)
    r = scan(_model(tmp_path / "pos.safetensors", {"encoder.embed_positions.weight": table}))
    t = next(t for t in r.tensors if t.name == "encoder.embed_positions.weight")
    assert t.computed and "sinusoidal" in t.computed
    assert not [x for x in r.findings if x.severity != "info" and x.tensor == t.name]


def test_a_position_table_carrying_a_secret_is_no_longer_the_formula(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    table = _whisper_positions(400, 384)
    secret = rng.integers(0, 17, table.size).reshape(table.shape) * 15.0
    written = (table + 0.05 * (secret - secret.mean()) / secret.std()).astype(np.float32)
    r = scan(_model(tmp_path / "pos.safetensors", {"encoder.embed_positions.weight": written}))
    assert not next(t for t in r.tensors if t.name == "encoder.embed_positions.weight").computed


def test_a_linear_layer_named_like_an_embedding_is_judged_as_one(tmp_path: Path) -> None:
    """A Linear over 31 basis functions called angle_embedding (with a bias, read by a 64-wide layer) is a dense
    layer, not a lookup table whose dimensions have no order."""
    rng = np.random.default_rng(16)
    r = scan(
        _model(
            tmp_path / "lin.safetensors",
            {
                "angle_embedding.weight": rng.normal(0, 0.1, (64, 31)),
                "angle_embedding.bias": rng.normal(0, 0.1, 64),
                "mlp.weight": rng.normal(0, 0.1, (32, 64)),
                "word_embeddings.weight": rng.normal(0, 0.1, (1000, 32)),
            },
        )
    )
    kinds = {t.name: t.kind for t in r.tensors}
    assert kinds["angle_embedding.weight"] == "dense" and kinds["word_embeddings.weight"] == "embedding"


def test_smooth_3d_kernels_keep_their_sign_runs_inside_the_kernel(tmp_path: Path) -> None:
    """A 3-D UNet's 3×3×3 kernels are smooth filters: neighbouring taps agree in sign, across the 27-tap kernel
    ends they do not (27 is no multiple of 8, so written bits would cross those ends mid-byte)."""
    rng = np.random.default_rng(17)
    grid = np.stack(np.meshgrid(*[np.arange(3) - 1.0] * 3, indexing="ij")).reshape(3, -1)
    direction = rng.normal(0, 1, (64 * 64, 3))
    ramp = direction @ grid + rng.normal(0, 0.2, (64 * 64, 27))  # an edge filter per kernel: half of each sign
    w = ramp * np.abs(rng.standard_t(2, (64 * 64, 27))) * 0.05
    r = scan(_model(tmp_path / "unet.safetensors", {"c1.conv1.weight": w.reshape(64, 64, 3, 3, 3)}))
    f = next(t.features for t in r.tensors if t.name == "c1.conv1.weight")
    assert f.sign_excess >= 0.14 and f.kernel_boundary_sign_corr < f.sign_autocorr / 3
    found = [x for x in r.findings if x.detector == "sign-structure" and x.tensor == "c1.conv1.weight"]
    assert found and found[0].severity == "warning" and "kernel ends" in found[0].message


def test_bits_written_into_3d_kernels_cross_their_ends(tmp_path: Path) -> None:
    rng = np.random.default_rng(18)
    bits = _bits(64 * 64 * 27, rng)
    w = np.abs(rng.normal(0, 0.05, bits.size)) * np.where(bits == 1, 1.0, -1.0)
    r = scan(_model(tmp_path / "bits.safetensors", {"c1.conv1.weight": w.reshape(64, 64, 3, 3, 3)}))
    assert [x for x in r.findings if x.detector == "sign-structure" and x.severity == "suspicious"]


def test_a_float32_layer_on_a_fixed_step_of_518_levels_is_a_grid(tmp_path: Path) -> None:
    """A convolution quantised to k × 0.00625 (k in −255..262, a captcha model's first layer): 1/160 is no power of
    two, so its low bytes take a handful of patterns. With up to 1,024 levels a float32 layer is a grid and its low
    bits are not judged; payload bits written into the same layer's low bytes make its values distinct: found."""
    rng = np.random.default_rng(21)
    k = np.clip(np.round(rng.normal(0, 60, 64 * 3 * 7 * 7)), -255, 262)
    k[:518] = np.arange(-255, 263)  # every level present
    w = (k * 0.00625).astype(np.float32)
    tensors = {"conv1.weight": w.reshape(64, 3, 7, 7)}
    r = scan(_model(tmp_path / "grid.safetensors", tensors))
    f = next(t.features for t in r.tensors if t.name == "conv1.weight")
    assert f.grid and f.levels == 518
    assert not [x for x in r.findings if x.severity == "suspicious"]
    u = w.view(np.uint32).copy()
    payload = np.frombuffer((b"the quick brown fox jumps over the lazy dog " * 300)[: u.size], np.uint8)
    u = (u & np.uint32(0xFFFFFF00)) | payload.astype(np.uint32)
    r = scan(_model(tmp_path / "written.safetensors", {"conv1.weight": u.view(np.float32).reshape(64, 3, 7, 7)}))
    assert [x for x in r.findings if x.tensor == "conv1.weight" and x.severity == "suspicious"]


def _rounded(n: int, rng: np.random.Generator) -> np.ndarray:
    """Weights carried through a shorter precision: most values' lowest 3 to 9 mantissa bits are zero, a few keep
    them all (no number of low bits is zero in every value)."""
    u = rng.normal(0, 0.05, n).astype(np.float32).view(np.uint32)
    drop = np.where(rng.random(n) < 0.02, 0, rng.integers(3, 10, n)).astype(np.uint32)
    return (u >> drop << drop).view(np.float32)


def test_weights_rounded_to_fewer_bits_are_not_a_low_bit_payload(tmp_path: Path) -> None:
    """A ported EfficientNet's BatchNorm variances and depthwise kernels end in 3-9 zero bits: the low byte is far
    from uniform, but the bits above each value's lowest set bit are: rounding, a warning at most."""
    rng = np.random.default_rng(23)
    r = scan(_model(tmp_path / "rounded.safetensors", {"dw.weight": _rounded(96 * 9 * 10, rng).reshape(960, 1, 3, 3)}))
    f = next(t.features for t in r.tensors if t.name == "dw.weight")
    assert f.rounded_share > 0.9 and f.above_lowest_chi_effect < 0.5
    assert not [x for x in r.findings if x.detector == "lsb-bitplanes" and x.severity == "suspicious"]


def test_bytes_written_into_rounded_weights_are_still_found(tmp_path: Path) -> None:
    """The same rounded layer with text in its low bytes (everywhere, or in one stretch of 2,048 values): the bits
    above the lowest set bit are the text's, or the stretch stands far out of the rounded rest."""
    rng = np.random.default_rng(24)
    base = _rounded(96 * 9 * 10, rng)
    text = np.frombuffer(
        (b"call me ishmael some years ago never mind how long precisely " * 200)[: base.size], np.uint8
    )
    everywhere = (base.view(np.uint32) & np.uint32(0xFFFFFF00)) | text.astype(np.uint32)
    part = base.view(np.uint32).copy()
    part[3000:5048] = everywhere[3000:5048]
    for name, u in (("all.safetensors", everywhere), ("part.safetensors", part)):
        r = scan(_model(tmp_path / name, {"dw.weight": u.view(np.float32).reshape(960, 1, 3, 3)}))
        assert [x for x in r.findings if x.detector == "lsb-bitplanes" and x.severity == "suspicious"], name
