"""The judge's Context finds what detectors ask of every tensor once, with the answers of the plain definitions."""

from __future__ import annotations

import math
from types import SimpleNamespace

from inspector.core.judge.detectors.context import Context
from inspector.core.judge.detectors.correlated import exchangeable


def tensor(name: str, shape: tuple[int, ...], kind: str, dtype: str = "F32", features: bool = True):
    feats = SimpleNamespace(name=name, kind=kind) if features else None
    return SimpleNamespace(name=name, shape=shape, dtype=dtype, numel=math.prod(shape), features=feats)


def exchangeable_by_definition(tensors: list, name: str) -> bool:
    """Neighbours read another matrix's outputs: some other dense/embedding matrix has that width."""
    t = next(t for t in tensors if t.name == name)
    if len(t.shape) != 2 or t.features.kind not in ("dense", "embedding"):
        return False
    if t.features.kind == "embedding":
        return True
    mats = [
        m
        for m in tensors
        if m.features is not None and m.dtype.startswith(("F", "BF")) and m.numel and len(m.shape) == 2
        if m.features.kind in ("dense", "embedding")
    ]
    if not mats or mats[0].name == name:
        return False
    width = t.shape[1]
    return any(m.name != name and (m.shape[1] if m.features.kind == "embedding" else m.shape[0]) == width for m in mats)


def test_exchangeable_matches_its_definition_on_every_layer():
    tensors = [
        tensor("ids", (4, 8), "dense", dtype="I64"),  # not a float tensor: never a reader
        tensor("fc1.weight", (64, 32), "dense"),  # the first matrix reads the data
        tensor("fc1.bias", (64,), "bias"),
        tensor("sq.weight", (48, 48), "dense"),  # reads 48 wide inputs, and only it outputs 48: not exchangeable
        tensor("fc2.weight", (64, 64), "dense"),  # reads fc1's 64 outputs (and its own width)
        tensor("fc3.weight", (10, 64), "dense"),  # reads 64: fc1 and fc2 output 64
        tensor("emb.weight", (100, 10), "embedding"),
        tensor("head.weight", (7, 10), "dense"),  # reads 10: emb rows and fc3's outputs
        tensor("empty.weight", (0, 64), "dense"),  # empty: no reader
        tensor("nofeat.weight", (5, 5), "dense", features=False),
    ]
    ctx = Context(None, tensors, None)
    for t in tensors:
        if t.features is None or t.dtype == "I64" or not t.numel:
            continue
        assert exchangeable(ctx, t.features) == exchangeable_by_definition(tensors, t.name), t.name
    assert [exchangeable(ctx, t.features) for t in tensors[1:8] if t.features.kind != "bias"] == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]


def test_context_lists_are_found_once_and_handed_out_fresh():
    tensors = [tensor("a.weight", (8, 4), "dense"), tensor("b.weight", (3, 8), "dense"), tensor("c", (2,), "bias")]
    ctx = Context(None, tensors, None)
    first = ctx.float_tensors()
    first.clear()  # a caller's own list: the context's answer does not change
    assert [t.name for t in ctx.float_tensors()] == ["a.weight", "b.weight", "c"]
    feats = ctx.all_features()
    feats.pop()
    assert [f.name for f in ctx.all_features()] == ["a.weight", "b.weight", "c"]
    assert ctx.matrix_widths() == ("a.weight", {8: frozenset({"a.weight"}), 3: frozenset({"b.weight"})})
    assert Context(None, [tensor("c", (2,), "bias")], None).matrix_widths() is None
