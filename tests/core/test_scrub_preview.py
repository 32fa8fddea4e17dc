"""The scrub preview measures what the export would do to the first elements of a layer."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.formats import open_model
from inspector.core.measure.stats import histogram_chunk
from inspector.core.progress import Cancelled, CancelToken
from inspector.core.scrub.export import scrub_chunk, tensor_rng
from inspector.core.scrub.preview import preview_tensor


@pytest.fixture
def ref(tmp_path):
    w = (np.random.default_rng(5).standard_normal(5000) * 0.05).astype(np.float32)
    save_file({"fc.weight": w.reshape(50, 100)}, str(tmp_path / "m.safetensors"))
    return open_model(tmp_path / "m.safetensors")["fc.weight"], w


@pytest.mark.parametrize("limit", [1 << 20, 3000])
def test_preview_is_the_export_stream_measured(ref, limit):
    r, w = ref
    edges = np.linspace(w.min(), w.max(), 33)
    pv = preview_tensor(r, 12, edges, seed=7, max_elements=limit)
    n = min(w.size, limit)
    out = scrub_chunk(w, r.dtype, 12, tensor_rng(7, "fc.weight")).view(np.float32)[:n]
    before, after = w[:n].astype(np.float64), out.astype(np.float64)
    d = np.abs(after - before)
    assert (pv.elements, pv.partial) == (n, n < w.size)
    assert pv.max_abs_change == pytest.approx(d.max())
    assert pv.mean_rel_change == pytest.approx((d / np.abs(before)).mean(), rel=1e-5)
    assert pv.changed_fraction == pytest.approx(np.count_nonzero(out != w[:n]) / n)
    np.testing.assert_array_equal(pv.before, histogram_chunk(w[:n], edges))
    np.testing.assert_array_equal(pv.after, histogram_chunk(out, edges))
    assert int(pv.after.sum()) + pv.outside == n


def test_preview_round_mode_and_cancel(ref):
    r, w = ref
    edges = np.linspace(-1, 1, 9)
    pv = preview_tensor(r, 16, edges, seed=0, mode="round")
    expect = scrub_chunk(w, r.dtype, 16, None, mode="round").view(np.float32)
    assert pv.max_abs_change == pytest.approx(np.abs(expect.astype(np.float64) - w).max())
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        preview_tensor(r, 4, edges, seed=0, cancel=token)
