"""The one data side of "weights as image" (GUI view and report figures): θ, the value sources, the tiles."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from inspector.core.formats import open_model
from inspector.core.measure.weights_image import minmax_tiles, source_length, source_values, theta_tensors, tile_grid


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(3)
    tensors = {
        "a.weight": rng.standard_normal((6, 8)).astype(np.float32),
        "a.bias": rng.standard_normal(6).astype(np.float32),
        "b.weight": rng.standard_normal((5, 3)).astype(np.float16),
        "steps": np.arange(4, dtype=np.int64).reshape(2, 2),
    }
    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path))
    return open_model(path), tensors


def test_theta_is_the_float_matrices_in_storage_order(model):
    m, _ = model
    assert [t.name for t in theta_tensors(m)] == ["a.weight", "b.weight"]
    assert [t.name for t in theta_tensors(m, ["b.weight"])] == ["b.weight"]


def test_sources_match_numpy_on_the_concatenation(model):
    m, t = model
    refs = theta_tensors(m)
    a, b = t["a.weight"].reshape(-1), t["b.weight"].reshape(-1)
    values = np.concatenate([a.astype(np.float64), b.astype(np.float64)])
    np.testing.assert_array_equal(source_values(refs, "values"), values)
    signs = (values > 0).astype(np.uint8)
    np.testing.assert_array_equal(source_values(refs, "signs"), signs)
    packed = np.packbits(signs[: signs.size // 8 * 8])  # bytes straddle the tensor boundary (48 + 15 signs)
    np.testing.assert_array_equal(source_values(refs, "sign bytes"), packed)
    low = np.concatenate([a.view(np.uint8)[::4], b.view(np.uint8)[::2]])
    np.testing.assert_array_equal(source_values(refs, "low byte"), low)
    low16 = np.concatenate(
        [(a.view(np.uint32) & 0xFFFF).astype(">u2").view(np.uint8), b.view(np.uint16).astype(">u2").view(np.uint8)]
    )
    np.testing.assert_array_equal(source_values(refs, "low 16 bits"), low16)
    for source, full in (("values", values), ("sign bytes", packed), ("low 16 bits", low16)):
        assert source_length(refs, source) == full.size
        np.testing.assert_array_equal(source_values(refs, source, 3, 50), full[3:50])  # a window, odd start
    with pytest.raises(ValueError, match="unknown image source"):
        source_values(refs, "colours")


def test_tiles_are_min_max_scaled_each_on_its_own():
    v = np.concatenate([np.arange(4.0), [10.0, 10.0, 10.0, 10.0], [0.0, np.nan, np.inf, 2.0]])
    t = minmax_tiles(v, (2, 2))
    assert t.dtype == np.uint8 and t.shape == (3, 2, 2)
    np.testing.assert_array_equal(t[0].reshape(-1), [0, 85, 170, 255])
    np.testing.assert_array_equal(t[1], 0)  # a constant tile is black
    np.testing.assert_array_equal(t[2].reshape(-1), [0, 0, 0, 255])  # NaN/Inf neither stretch nor light up
    np.testing.assert_array_equal(minmax_tiles(v, 2, 1, invert=True)[0].reshape(-1), [255, 170, 85, 0])
    assert minmax_tiles(v, 4, 0).shape == (0, 4, 4)


def test_tile_grid_places_tiles_row_by_row():
    tiles = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    g = tile_grid(tiles, columns=2, scale=2, gap=1, background=200)
    assert g.shape == (2 * 5 + 1, 2 * 5 + 1)
    np.testing.assert_array_equal(g[1:5:2, 6:10:2], tiles[1])
    np.testing.assert_array_equal(g[6:10:2, 1:5:2], tiles[2])
    assert (g[6:10, 6:10] == 200).all() and (g[0] == 200).all()
    rgb = tile_grid(np.repeat(tiles[..., None], 3, axis=3), columns=3, background=(1, 2, 3))
    assert rgb.shape == (4, 10, 3) and tuple(rgb[0, 0]) == (1, 2, 3)
