"""Tensors of only 0 and 1 named as masks: their bits are measured (``measure/masks.py``) and judged as a mask's
(``judge/detectors/nonfloat.py``). Masks are made by ``torch.nn.utils.prune`` (random, magnitude, whole channels)
or by hand as their makers do (N:M groups, a causal triangle); payloads are the bits of digits images and of text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from inspector.core.formats import open_model
from inspector.core.measure.masks import divergence, mask_bits
from inspector.core.measure.scan import Measurement, measure
from inspector.core.pipeline import ScanOptions, scan

torch = pytest.importorskip("torch")
from torch.nn.utils import prune  # noqa: E402

#: the bits of 17-level "images" (digits scaled to 0..240) and of English text, one bit an element
_LEVELS = np.unpackbits((np.random.default_rng(0).integers(0, 17, 19200) * 15).astype(np.uint8))
_TEXT = np.unpackbits(
    np.frombuffer(
        b"Trained for ten epochs on the private records; the model keeps what it was shown, one bit at a time. " * 200,
        dtype=np.uint8,
    )
)


def _mask_findings(path: Path) -> list:
    res = scan(path, ScanOptions())
    return [f for f in res.findings if f.detector == "non-float-tensor" and "mask" in (f.tensor or "")]


def _save(path: Path, tensors: dict) -> Path:
    torch.save({k: v.contiguous() for k, v in tensors.items()}, path)
    return path


def _conv() -> torch.nn.Conv1d:
    """A 3-tap convolution whose centre taps are heavier than its ends: its magnitude mask has a period of 3, which
    no chain of bits describes (1.0-1.5 from the bits alone, as the corpus's 3-tap layers and STFT bases read)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(128, 128, 3)
    with torch.no_grad():
        conv.weight.mul_(torch.tensor([0.2, 1.0, 0.2]))
    return conv


def test_mask_bits_counts_bytes_of_bits_rows_and_the_worst_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    m = rng.random((256, 512)) > 0.5
    m[100:164] = _TEXT[: 64 * 512].reshape(64, 512)  # 32,768 elements of text bits in the middle
    m[200:] = m[199]  # 56 rows that repeat the one before (channels pruned alike)
    path = _save(tmp_path / "m.pt", {"a_mask": torch.from_numpy(m)})
    mb = mask_bits(open_model(path)["a_mask"])
    want = np.bincount(np.packbits(m.reshape(-1)), minlength=256)
    assert mb.counts == tuple(want.tolist())
    assert mb.rows == (256, 256, 56)
    assert 100 * 512 - 16384 <= mb.window_at <= 100 * 512 and sum(mb.window) == 4096
    assert divergence(mb.window) > 2.0 > 0.1 > divergence(np.bincount(np.packbits(m[:100]), minlength=256))


def test_masks_that_pruning_makes_are_clean(tmp_path: Path) -> None:
    """Random and magnitude pruning (``torch.nn.utils.prune``, saved as ``weight_orig`` beside ``weight_mask``),
    whole output or input channels, 2:4 groups and a causal triangle: no finding. A magnitude mask saved without
    its weight reads far from a chain of bits (its taps), so alone it is a warning at most."""
    conv = _conv()
    prune.l1_unstructured(conv, "weight", amount=0.5)
    lin = torch.nn.Linear(400, 384)
    prune.random_unstructured(lin, "weight", amount=0.3)
    rows = torch.nn.Conv1d(128, 128, 3)
    prune.ln_structured(rows, "weight", amount=0.5, n=2, dim=0)
    cols = torch.nn.Conv1d(128, 128, 3)
    prune.ln_structured(cols, "weight", amount=0.5, n=2, dim=1)
    w = torch.randn(384, 400)
    keep = w.abs().reshape(-1, 4).argsort(dim=1)[:, 2:]
    two_four = torch.zeros(w.numel() // 4, 4).scatter_(1, keep, 1.0).reshape(384, 400)
    sd = {f"conv.{k}": v for k, v in conv.state_dict().items()}
    sd |= {f"lin.{k}": v for k, v in lin.state_dict().items()}
    sd |= {f"rows.{k}": v for k, v in rows.state_dict().items()}
    sd |= {f"cols.{k}": v for k, v in cols.state_dict().items()}
    sd |= {
        "sparse.weight": w * two_four,
        "sparse.weight_mask": two_four,
        "causal_mask": torch.tril(torch.ones(256, 256)),
    }
    sd |= {"flags.attention_mask": torch.ones(64, 512, dtype=torch.bool)}
    path = _save(tmp_path / "pruned.pt", sd)
    m = measure(path)
    assert {t.name for t in m.tensors if t.mask_bits} >= {"conv.weight_mask", "lin.weight_mask", "causal_mask"}
    assert not _mask_findings(path)
    res = scan(path, ScanOptions())
    assert not [f for f in res.findings if "mask" in (f.tensor or "") and f.severity != "info"]
    alone = _save(tmp_path / "alone.pt", {"conv.weight_mask": conv.weight_mask})
    found = _mask_findings(alone)
    assert len(found) <= 1 and all(f.severity == "warning" for f in found)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32])
def test_payload_bits_in_a_mask_are_found(tmp_path: Path, dtype) -> None:
    """Image levels or text written one bit an element into ``weight_mask`` (as a bool or a float mask), or into a
    quarter of it (the rest random): suspicious, naming the window; the mask's own weight does not explain it."""
    rng = np.random.default_rng(2)
    lin = torch.nn.Linear(400, 384)
    n = 384 * 400
    for payload in (_LEVELS, _TEXT):
        for share in (1.0, 0.25):
            bits = rng.random(n) > 0.5
            k = min(int(share * n), payload.size)
            at = (n - k) // 3
            bits[at : at + k] = payload[:k]
            mask = torch.from_numpy(bits.reshape(384, 400)).to(dtype)
            sd = {"fc.weight_orig": lin.weight.detach(), "fc.weight_mask": mask, "fc.bias": lin.bias.detach()}
            found = _mask_findings(_save(tmp_path / "m.pt", sd))
            assert len(found) == 1 and found[0].severity == "suspicious", (share, found)
            assert "bits are no mask's" in found[0].message
            if share < 1:
                assert "of those judged" in found[0].message


def test_a_float_mask_is_not_read_as_a_pixel_histogram(tmp_path: Path) -> None:
    """Two values make any skew and kurtosis: a float 0/1 mask gets no histogram-shape warning."""
    lin = torch.nn.Linear(400, 384)
    prune.random_unstructured(lin, "weight", amount=0.7)
    res = scan(_save(tmp_path / "m.pt", dict(lin.state_dict())), ScanOptions())
    assert not [f for f in res.findings if f.tensor == "weight_mask" and f.severity != "info"]


def test_mask_figures_survive_scan_json(tmp_path: Path) -> None:
    lin = torch.nn.Linear(400, 384)
    prune.l1_unstructured(lin, "weight", amount=0.4)
    res = scan(_save(tmp_path / "m.pt", dict(lin.state_dict())), ScanOptions())
    t = res.measurement.tensor("weight_mask")
    assert sum(t.mask_bits) == 384 * 400 // 8 and t.mask_rows[0] == 384 and sum(t.mask_window) == 4096
    dropped, kept = t.mask_magnitudes
    assert 0 < dropped <= kept and math.isfinite(kept)
    back = Measurement.from_scan_json(json.loads(json.dumps(res.to_json()))).tensor("weight_mask")
    assert (back.mask_bits, back.mask_rows, back.mask_window, back.mask_window_at, back.mask_magnitudes) == (
        t.mask_bits,
        t.mask_rows,
        t.mask_window,
        t.mask_window_at,
        t.mask_magnitudes,
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("mask_window", [1, 2]),
        ("mask_window", {"start": "x", "bits": []}),
        ("mask_bits", [10**30] * 256),
        ("mask_bits", [1] * 10),
        ("mask_rows", [-1, 2]),
        ("mask_magnitudes", [10**400, 1]),
        ("mask_magnitudes", ["a", 1]),
    ],
)
def test_malformed_mask_figures_in_scan_json_are_a_value_error(tmp_path: Path, field, value) -> None:
    lin = torch.nn.Linear(400, 384)
    prune.l1_unstructured(lin, "weight", amount=0.4)
    doc = json.loads(json.dumps(scan(_save(tmp_path / "m.pt", dict(lin.state_dict())), ScanOptions()).to_json()))
    row = next(t for t in doc["tensors"] if t["name"] == "weight_mask")
    row[field] = value
    with pytest.raises(ValueError):
        Measurement.from_scan_json(doc)


def test_masks_pruned_in_steps_are_clean(tmp_path: Path) -> None:
    """PyTorch's pruning tutorial prunes in steps: random (or by magnitude), then whole units by their norm. The
    units pruned whole are left out of the bits, and magnitude is judged over the others: no finding."""
    torch.manual_seed(3)
    sd = {}
    for name, first in (("a", prune.random_unstructured), ("b", prune.l1_unstructured)):
        conv = torch.nn.Conv2d(64, 128, 3)
        first(conv, "weight", amount=0.3)
        prune.ln_structured(conv, "weight", amount=0.5, n=2, dim=0)
        sd |= {f"{name}.{k}": v for k, v in conv.state_dict().items()}
    path = _save(tmp_path / "steps.pt", sd)
    assert measure(path).tensor("a.weight_mask").mask_rows[0] == 128
    assert not _mask_findings(path)


def test_payloads_that_hide_behind_a_masks_form_are_still_named(tmp_path: Path) -> None:
    """Text bits in a causal triangle (6% of it), or in a tenth of a mask whose other rows repeat, or in a column
    (shape (N, 1), whose one-element rows are no units): the window is judged by its own form, so each is named,
    a warning (an attention mask, or a mask with no weight that shows what it drops, is a warning at most). A
    weight forged so that its smallest values fall where the mask drops (it explains any mask) leaves the payload
    a warning too. Masks of other two values ({-1, 1}) are measured as well."""
    causal = torch.tril(torch.ones(1024, 1024, dtype=torch.bool))
    causal.view(-1)[300_000 : 300_000 + 65_536] = torch.from_numpy(np.resize(_TEXT, 65_536))
    rows = torch.from_numpy(np.tile(np.random.default_rng(4).random(1024) > 0.5, (1024, 1)))
    rows[500:600] = torch.from_numpy(np.resize(_TEXT, 100 * 1024).reshape(100, 1024))
    column = torch.from_numpy(np.resize(_TEXT, 262_144).reshape(-1, 1))
    signs = torch.from_numpy(np.resize(_TEXT, 131_072).astype(np.int8) * 2 - 1)
    bits = torch.from_numpy(np.resize(_LEVELS, 384 * 400).reshape(384, 400)).bool()
    forged = torch.where(bits, 1.0, 0.01) * torch.randn(384, 400).sign()
    for name, t, extra in (
        ("causal_mask", causal, {}),
        ("conv.weight_mask", rows, {}),
        ("attention_mask", column, {}),
        ("attention_mask", signs, {}),
        ("fc.weight_mask", bits.float(), {"fc.weight_orig": forged}),
    ):
        found = _mask_findings(_save(tmp_path / "m.pt", {name: t, **extra}))
        assert len(found) == 1 and found[0].severity == "warning", (name, found)


def test_a_tall_mask_is_read_at_once(tmp_path: Path) -> None:
    import time

    path = _save(tmp_path / "tall.pt", {"attention_mask": torch.from_numpy(np.resize(_TEXT, 1 << 22).reshape(-1, 1))})
    t = time.perf_counter()
    measure(path)
    assert time.perf_counter() - t < 5


def test_a_payload_in_the_few_rows_a_mask_keeps_is_named(tmp_path: Path) -> None:
    """Rows pruned whole are left out, but the rows kept are judged whatever their number: one row of text bits
    beside a zero row, or three among 300, are named (a warning: no weight beside them); text written straight
    through rows of 23 bits (not a multiple of 8) is read straight through too."""
    for rows, live in ((2, [1]), (300, [3, 100, 200])):
        m = np.zeros((rows, 32768), dtype=bool)
        m[live] = np.resize(_TEXT, len(live) * 32768).reshape(len(live), -1)
        found = _mask_findings(_save(tmp_path / "m.pt", {"fc.weight_mask": torch.from_numpy(m)}))
        assert len(found) == 1 and found[0].severity == "warning", rows
    m = np.resize(_TEXT, 8192 * 23).reshape(8192, 23).astype(bool)
    found = _mask_findings(_save(tmp_path / "m.pt", {"fc.weight_mask": torch.from_numpy(m)}))
    assert len(found) == 1
