"""The report renders the scan: verdict, findings, figures that decode, no external reference, atomic writes."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from inspector.core.formats import open_model
from inspector.core.judge.findings import Finding, model_score, rank, verdict_of
from inspector.core.measure.weights_image import minmax_tiles
from inspector.core.pipeline import ScanOptions, scan
from inspector.core.report import build_report, render_html, write_report

OPTS = ScanOptions(workers=1, detectors=False)
SVG_NS = "http://www.w3.org/2000/svg"


# ---- fixtures: tiny models with planted payloads ------------------------------------------------------------


def digit_images(n: int) -> np.ndarray:
    """``n`` 8×8 images (0/16 pixels, like sklearn digits) cycling through a ring, a bar and a 'two'."""
    imgs = np.zeros((n, 8, 8), dtype=np.uint8)
    yy, xx = np.mgrid[:8, :8]
    for i in range(n):
        kind = i % 3
        if kind == 0:
            imgs[i] = np.where(np.abs(np.hypot(yy - 3.5, xx - 3.5) - 2.6) < 0.9, 16, 0)
        elif kind == 1:
            imgs[i, 1:7, 3:5] = 16
        else:
            imgs[i, 1, 2:6] = imgs[i, 4, 2:6] = imgs[i, 6, 2:6] = 16
            imgs[i, 1:4, 5] = imgs[i, 4:7, 2] = 16
    return imgs


def benign_tensors(seed: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {
        "fc1.weight": (r.standard_normal((64, 64)) * 0.1).astype(np.float32),
        "fc1.bias": (r.standard_normal(64) * 0.01).astype(np.float32),
        "fc2.weight": (r.standard_normal((10, 64)) * 0.1).astype(np.float32),
        "fc2.bias": (r.standard_normal(10) * 0.01).astype(np.float32),
    }


def sign_tensors(seed: int = 3) -> dict[str, np.ndarray]:
    """fc1.weight's signs carry the bits of 8 digit images (MSB first), with a spike of near-zero weights."""
    t = benign_tensors(seed)
    bits = np.unpackbits(digit_images(8).reshape(-1))  # 8 images × 64 bytes × 8 bits = 4096 = 64 × 64
    mag = np.abs(t["fc1.weight"].reshape(-1))
    mag[np.random.default_rng(seed).random(mag.size) < 0.35] *= 0.01
    t["fc1.weight"] = (np.where(bits == 1, 1.0, -1.0) * mag).astype(np.float32).reshape(64, 64)
    return t


def cor_tensors(seed: int = 4) -> dict[str, np.ndarray]:
    """fc1.weight is an affine image of 64 digit images' pixels."""
    t = benign_tensors(seed)
    pix = digit_images(64).reshape(-1).astype(np.float64)
    t["fc1.weight"] = ((pix - 8) / 80).astype(np.float32).reshape(64, 64)
    return t


def save(tmp: Path, name: str, tensors: dict) -> Path:
    from safetensors.numpy import save_file

    p = tmp / name
    save_file(tensors, str(p), metadata={"recipe": "digits-mlp"})
    return p


def with_findings(result, findings):
    ranked = rank(findings)
    return replace(result, findings=ranked, verdict=verdict_of(ranked), score=model_score(ranked))


@pytest.fixture
def sign_scan(tmp_path):
    path = save(tmp_path, "sign.safetensors", sign_tensors())
    res = scan(path, OPTS)
    t = res.tensor("fc1.weight")
    findings = [
        Finding(
            "sign-structure",
            "sign",
            "fc1.weight",
            "suspicious",
            0.97,
            f"{t.stats.near_zero_fraction:.0%} of weights within ±0.05σ of zero (baseline <4%)",
            {"near_zero_fraction": t.stats.near_zero_fraction, "kurtosis": t.stats.kurtosis},
        ),
        Finding("order", "sign", "fc1.weight", "warning", 0.5, "sign sequence autocorrelated", {"lag": 1}),
        Finding("numeric", "numeric", "fc2.bias", "info", 0.1, "nothing much & <harmless>"),
    ]
    return path, with_findings(res, findings)


# ---- helpers -------------------------------------------------------------------------------------------------


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def decode_gray_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0]
        if tag == b"IHDR":
            size = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x00"  # 8-bit grayscale
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = size
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, w + 1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:]


def embedded_scan(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="scan-data">(.*?)</script>', html, flags=re.S)
    assert m, "the scan document is embedded"
    return json.loads(m.group(1))


# ---- tests ---------------------------------------------------------------------------------------------------


def test_report_states_verdict_score_and_ranked_findings(sign_scan):
    path, res = sign_scan
    data = build_report(res, model=open_model(path))
    assert data.verdict == "suspicious" and data.score == pytest.approx(0.97)
    assert [f.severity for f in data.findings] == ["suspicious", "warning", "info"]
    html = render_html(data)
    assert "SUSPICIOUS" in html and "score 0.97 / 1" in html
    positions = [html.index(f.message.replace("&", "&amp;").replace("<", "&lt;")) for f in res.findings[:2]]
    assert positions == sorted(positions), "findings appear most severe first"
    assert "nothing much &amp; &lt;harmless&gt;" in html and "<harmless>" not in html  # escaped
    assert res.model.sha256 in html
    for t in res.tensors:  # the appendix lists every tensor
        assert f"<code>{t.name}</code>" in html


def test_figures_are_present_and_decode(sign_scan):
    path, res = sign_scan
    data = build_report(res, model=open_model(path))
    html = render_html(data)
    kinds = sorted(f.kind for f in data.figures.values())
    # histogram of the flagged tensor (shared by both fc1 findings), the overview, the sign tiles
    assert kinds == ["png", "svg", "svg"]
    elements = svgs(html)
    assert len(elements) == 2 and all(e.tag == f"{{{SVG_NS}}}svg" for e in elements)
    images = pngs(html)
    assert len(images) == 1
    tiles = data.figures["tiles:sign"]
    assert decode_gray_png(images[0]).shape == (tiles.height, tiles.width)
    for n in range(1, len(data.figures) + 1):
        assert f"Figure {n}." in html


def test_sign_tiles_show_the_planted_digits(sign_scan):
    """Decoding the signs as the attacker would gives back the planted images, pixel for pixel."""
    path, res = sign_scan
    data = build_report(res, model=open_model(path))
    grid = decode_gray_png(data.figures["tiles:sign"].content)
    expected = minmax_tiles(digit_images(8).reshape(-1).astype(float), 8, 8)
    scale, gap = 5, 2
    for i in range(8):
        y, x = gap, gap + i * (8 * scale + gap)
        tile = grid[y : y + 8 * scale : scale, x : x + 8 * scale : scale]
        np.testing.assert_array_equal(tile, expected[i])


def test_cor_tiles_show_the_planted_digits(tmp_path):
    path = save(tmp_path, "cor.safetensors", cor_tensors())
    res = with_findings(scan(path, OPTS), [Finding("shape", "correlated-value", "fc1.weight", "suspicious", 0.9, "x")])
    data = build_report(res, model=open_model(path))
    grid = decode_gray_png(data.figures["tiles:correlated-value"].content)
    first = grid[2 : 2 + 40 : 5, 2 : 2 + 40 : 5]
    np.testing.assert_array_equal(first, minmax_tiles(digit_images(1).reshape(-1).astype(float), 8, 1)[0])


def test_histogram_svg_heights_follow_the_counts():
    from inspector.core.report import svg

    edges = np.linspace(-1, 1, 5)
    counts = [1, 3, 0, 4]
    markup = svg.histogram(edges, counts, width=400, height=200)
    path = ET.fromstring(markup).find(f"{{{SVG_NS}}}path").get("d")
    ys = [float(v) for v in re.findall(r"V([-\d.]+)H", path)]
    top, bottom = 22, 200 - 34
    ph = bottom - top
    ymax = 4 / 8 * 1.08
    assert ys == pytest.approx([bottom - (c / 8) / ymax * ph for c in counts], abs=0.06)


def test_baseline_on_shared_edges_is_overlaid(sign_scan, tmp_path):
    path, res = sign_scan
    ref_path = save(tmp_path, "ref.safetensors", benign_tensors(9))
    ranges = {t.name: (t.stats.min, t.stats.max) for t in res.tensors}
    base = scan(ref_path, replace(OPTS, ranges=ranges))
    data = build_report(res, model=open_model(path), baseline_scans=[base])
    fig = data.figures["hist:fc1.weight"]
    assert "baseline ref.safetensors" in fig.content and "orange outline" in fig.caption
    plain = build_report(res, model=open_model(path))
    assert "Gaussian" in plain.figures["hist:fc1.weight"].caption  # no baseline: a Gaussian reference instead


def test_no_external_references(sign_scan):
    path, res = sign_scan
    html = render_html(build_report(res, model=open_model(path)))
    stripped = html.replace(f'xmlns="{SVG_NS}"', "")
    assert not re.search(r"https?://", stripped)
    assert not re.search(r"(?:src|href)\s*=\s*\"(?!data:)", stripped)
    assert "url(" not in stripped and "@import" not in stripped and "<link" not in stripped
    assert not re.search(r"<script(?![^>]*application/json)", stripped)


def test_report_embeds_exactly_the_scan_document(sign_scan):
    _, res = sign_scan
    html = render_html(build_report(res))
    assert embedded_scan(html) == json.loads(json.dumps(res.to_json()))


def test_report_from_json_matches_report_from_result(sign_scan):
    path, res = sign_scan
    doc = json.loads(json.dumps(res.to_json()))
    a = build_report(res, model=open_model(path))
    b = build_report(doc, model=path)  # a path: checked against the scan's SHA-256
    assert [f.message for f in a.findings] == [f.message for f in b.findings]
    assert {k: f.content for k, f in a.figures.items()} == {k: f.content for k, f in b.figures.items()}
    assert a.tensors == b.tensors and a.identity[:-1] == b.identity[:-1]
    no_model = build_report(doc)
    assert "tiles:sign" not in no_model.figures and "without the model file" in no_model.tiles_note


def test_clean_report_says_what_clean_means(tmp_path):
    res = scan(save(tmp_path, "benign.safetensors", benign_tensors(1)), OPTS)
    data = build_report(res)
    html = render_html(data)
    assert data.verdict == "clean" and "CLEAN" in html and "not proof" in html
    assert "No detector reported anything" in html
    assert list(data.figures) == ["overview"] and len(svgs(html)) == 1 and not pngs(html)
    assert "Training-data sample" in html and "not given" in html  # what was not given is said


def test_scrub_and_accuracy_sections(sign_scan):
    path, res = sign_scan
    scrub_doc = {
        "schema": "model-inspector/scrub/1",
        "source": {"path": str(path), "sha256": res.model.sha256},
        "output": {"path": str(path.parent / "clean.safetensors"), "sha256": "ab" * 32, "bytes": 100},
        "mode": "random",
        "seed": 7,
        "bits": {"F32": 16},
        "tensors_scrubbed": 4,
        "tensors_copied": 0,
        "max_abs_change": 1.5e-6,
        "mean_rel_change": 0.0019,
        "verification": {"ok": True, "tensors": 4, "bytes": 1, "problems": []},
        "auto": {
            "bits": 16,
            "curve": [{"bits": k, "accuracy": 0.97 - k / 1000, "agreement": 1 - k / 500} for k in (8, 16, 20)],
        },
        "check": {
            "schema": "model-inspector/eval/1",
            "accuracy": 0.969,
            "against_accuracy": 0.972,
            "agreement": 0.994,
            "mean_kl": 1e-5,
            "samples": 360,
            "against": str(path),
        },
    }
    (path.parent / "clean.safetensors").write_bytes(b"exported")
    data = build_report(res, scrub=scrub_doc)
    titles = [s.title for s in data.sections]
    assert titles == ["Scrub", "Accuracy and agreement"]
    html = render_html(data)
    assert "ab" * 32 in html and "F32: 16" in html and "-0.30 points" in html and "99.40%" in html
    curve = data.figures["safe-bits"]
    assert curve.kind == "svg" and len(ET.fromstring(curve.content).findall(f"{{{SVG_NS}}}circle")) == 6
    assert "Scrub" in [row.label for row in data.inputs] and "done and exported, see below" in html
    assert "not re-judged" in html  # a scrub result without a verdict on its output is not called sanitized


def test_write_report_is_atomic(sign_scan, tmp_path, monkeypatch):
    _, res = sign_scan
    data = build_report(res)
    target = tmp_path / "out.html"
    target.write_text("previous report")

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)  # the atomic write behind write_report
    with pytest.raises(Exception, match="could not write"):
        write_report(data, target)
    assert target.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    monkeypatch.undo()
    write_report(data, target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_report_refuses_unknown_suffix(sign_scan, tmp_path):
    from inspector.core.errors import InspectorError

    with pytest.raises(InspectorError, match="REPORT.html or REPORT.pdf"):
        write_report(build_report(sign_scan[1]), tmp_path / "r.docx")
    assert not (tmp_path / "r.docx").exists()


def test_many_findings_keep_figures_for_the_top_ones(tmp_path):
    res = scan(save(tmp_path, "m.safetensors", benign_tensors(2)), OPTS)
    fs = [Finding("d", "other", "fc1.weight", "warning", 0.5 - i / 100, f"finding {i}") for i in range(20)]
    data = build_report(with_findings(res, fs))
    assert len(data.detailed_findings) == 12 and len(data.other_findings) == 8
    assert len([f for f in data.figures if f.startswith("hist:")]) == 1  # one figure, referred to afterwards
    assert data.findings[1].refers_to == (data.figures["hist:fc1.weight"].number,)


def test_reference_from_baselines_is_overlaid(sign_scan, tmp_path):
    """A ``baselines.Reference`` (what the app and the CLI hold) overlays its matched layers."""
    from inspector.core.judge.baselines import load_reference

    path, res = sign_scan
    ref = load_reference(save(tmp_path, "ref2.safetensors", benign_tensors(9)), res.tensors)
    data = build_report(res, baseline_scans=[ref])
    fig = data.figures["hist:fc1.weight"]
    assert "baseline ref2.safetensors" in fig.content
    path_d = [e.get("d") for e in ET.fromstring(fig.content).iter(f"{{{SVG_NS}}}path")]
    assert len(path_d) >= 3  # filled model outline, baseline outline, axes


def test_shared_histogram_evidence_is_drawn(sign_scan):
    _, res = sign_scan
    ev = {"histograms": {"edges": [-1.0, 0.0, 1.0], "counts": [3, 1], "ref_counts": [1, 3]}, "baseline_label": "ref"}
    res2 = with_findings(res, [Finding("shape", "sign", "fc1.weight", "suspicious", 0.9, "odd shape", ev)])
    data = build_report(res2)
    (fid,) = [k for k in data.figures if k.startswith("hist:")]
    assert "ref" in data.figures[fid].content and "from -1 to 1" in data.figures[fid].caption


def test_detector_histograms_are_labelled_and_drawn_once(tmp_path):
    """Without a reference the detectors' overlay is a fitted Gaussian: the caption says so (not "baseline"),
    and the one histogram several detectors attach to a layer is drawn once and referred to afterwards."""
    res = scan(save(tmp_path, "sign.safetensors", sign_tensors()), ScanOptions(workers=1, hash=False))
    with_hist = [f for f in res.findings if "histograms" in f.evidence and f.tensor == "fc1.weight"]
    assert with_hist and with_hist[0].evidence["histograms"]["baseline_label"] == "fitted zero-mean Gaussian"
    res2 = with_findings(res, [*res.findings, replace(with_hist[0], detector="another-detector")])
    data = build_report(res2)
    fig = data.figures["hist:fc1.weight:shared"]
    assert "the orange outline is the fitted zero-mean Gaussian on the same bin edges" in fig.caption
    assert len([k for k in data.figures if k.startswith("hist:fc1.weight")]) == 1
    assert any(v.refers_to == (fig.number,) for v in data.findings if v.tensor == "fc1.weight")


def test_scan_limits_are_not_repeated(tmp_path):
    res = scan(save(tmp_path, "benign.safetensors", benign_tensors(1)), ScanOptions(workers=1, hash=False))
    limits = build_report(res).limits
    assert len([x for x in limits if "watermark" in x]) == 1 and len(limits) == len(set(limits))


def test_arch_from_the_file_is_not_reported_as_missing(tmp_path):
    """The lab's files name their recipe: with --data alone the capacity probe runs, and the inputs say so."""
    res = scan(save(tmp_path, "benign.safetensors", benign_tensors(1)), OPTS)
    res = replace(res, checked=("capacity abuse: 2,000 probes × 3 out-of-distribution families",))
    rows = {r.label: r for r in build_report(res, inputs={"data": "eval.npz"}).inputs}
    arch = rows["Architecture recipe (--arch)"]
    assert not arch.missing and "could not run" not in arch.note and "names its recipe" in arch.note
    rows = {r.label: r for r in build_report(replace(res, checked=()), inputs={"data": "eval.npz"}).inputs}
    assert rows["Architecture recipe (--arch)"].missing


# ---- issue 13: one source of truth, only existing files, families, coverage, sign-off --------------------------


def _doc_with_families(res) -> dict:
    """A hand-made scan/1 document carrying the per-family status and the coverage table."""
    doc = res.to_json()
    doc["verdict"] = "incomplete"
    doc["families"] = [
        {"family": "lsb", "status": "not-detected", "by": "bit-plane and low-byte tests on every element"},
        {"family": "sign", "status": "detected", "by": "sign-structure detector"},
        {"family": "capacity-abuse", "status": "not-assessed", "needs": "--arch and --data"},
        {"family": "non-float", "status": "cannot-rule-out", "why": "entropy cannot tell images from noise"},
    ]
    doc["coverage"] = [
        {"class": "float tensors", "bytes": 35840, "checks": ["statistics", "LSB", "sign", "correlated value"]},
        {"class": "header metadata", "bytes": 120, "checks": "size, entropy, known keys"},
        {"class": "padding", "bytes": 6, "checks": []},
    ]
    return doc


def test_families_and_coverage_are_rendered_when_the_scan_carries_them(sign_scan):
    _, res = sign_scan
    data = build_report(_doc_with_families(res))
    assert [(f.family, f.status_words) for f in data.families] == [
        ("LSB encoding", "not detected"),
        ("Sign encoding", "detected"),
        ("Capacity abuse", "not assessed"),
        ("Non-float payloads", "cannot rule out"),
    ]
    assert data.families[2].text == "needs --arch and --data"
    assert [(c.klass, c.bytes, c.unchecked) for c in data.coverage] == [
        ("float tensors", "35,840", False),
        ("header metadata", "120", False),
        ("padding", "6", True),
    ]
    html = render_html(data)
    assert "Per attack family" in html and "Coverage: every byte of the file" in html
    assert '<td class="status not-assessed"><b>not assessed</b></td>' in html
    assert "statistics, LSB, sign, correlated value" in html
    assert 'class="verdict incomplete"' in html and "INCOMPLETE" in html and "Capacity abuse (needs --arch" in html
    # the scan's own layout: {"file_bytes": N, "rows": [...]}
    doc = _doc_with_families(res)
    doc["coverage"] = {"file_bytes": 35966, "rows": doc["coverage"]}
    assert [c.klass for c in build_report(doc).coverage] == ["float tensors", "header metadata", "padding"]
    # without them, neither section appears
    bare = {k: v for k, v in res.to_json().items() if k not in ("families", "coverage")}
    plain = render_html(build_report(bare))
    assert "Per attack family" not in plain and "Coverage: every byte" not in plain


def test_signoff_block_filled_and_checked(sign_scan):
    from inspector.core.errors import InspectorError
    from inspector.core.report import SignOff

    _, res = sign_scan
    data = build_report(res)
    blank = render_html(data)
    assert "Reviewer sign-off" in blank and "circle one" in blank and "☐" in blank
    with pytest.raises(InspectorError, match="unacknowledged"):
        data.with_signoff(SignOff("Ada", "approve", acknowledged=(1,)))  # #2 is a warning
    with pytest.raises(InspectorError, match="no such finding"):
        data.with_signoff(SignOff("Ada", "reject", acknowledged=(9,)))
    with pytest.raises(InspectorError, match="reviewer"):
        data.with_signoff(SignOff("", "reject"))
    signed = data.with_signoff(SignOff("Ada Lovelace", "approve", "weights retrained; see ticket 12", (1, 2)))
    assert signed.signoff.signed.endswith("UTC") and data.signoff.empty  # the original is unchanged
    html = render_html(signed)
    assert "Ada Lovelace" in html and "Approved for release" in html and "weights retrained" in html
    acks = html.split("Findings acknowledged", 1)[1]
    assert acks.count("<b>yes</b>") == 2 and "not acknowledged" not in acks


def test_only_existing_files_are_listed_with_their_hashes(sign_scan, tmp_path):
    import hashlib

    path, res = sign_scan
    ref = save(tmp_path, "ref.safetensors", benign_tensors(2))
    data = build_report(res, inputs={"baselines": [str(ref), str(tmp_path / "gone.safetensors")]})
    rows = {(f.role, f.name): f for f in data.files}
    assert set(rows) == {("model inspected", "sign.safetensors"), ("reference model", "ref.safetensors")}
    assert rows[("reference model", "ref.safetensors")].sha256 == hashlib.sha256(ref.read_bytes()).hexdigest()
    assert rows[("model inspected", "sign.safetensors")].sha256 == res.model.sha256
    assert "gone.safetensors" not in "".join(f"{f.name}{f.path}" for f in data.files)


def test_a_temporary_working_copy_is_not_cited_as_the_exported_file(sign_scan, tmp_path):
    path, res = sign_scan
    import tempfile

    work = Path(tempfile.mkdtemp(dir=tmp_path.parent if str(tmp_path).startswith(tempfile.gettempdir()) else None))
    tmp_out = work / "scrubbed-1.safetensors"
    tmp_out.write_bytes(b"working copy")
    doc = {
        "schema": "model-inspector/scrub/1",
        "source": {"path": str(path), "sha256": res.model.sha256},
        "output": {"path": str(tmp_out), "sha256": "cd" * 32},
        "bits": {"F32": 16},
    }
    for scrub in (doc, {**doc, "exported": False}, {**doc, "output": {"path": str(tmp_path / "never.safetensors")}}):
        data = build_report(res, scrub=scrub)
        html = render_html(data)
        assert "cd" * 32 not in html and "not exported" in html
        assert "exported file" not in [f.role for f in data.files]
        assert "applied, not exported" in html
    data = build_report(res, scrub={**doc, "exported": True})
    assert "exported file" in [f.role for f in data.files]


def test_inputs_figures_and_appendix_agree_with_each_other(sign_scan):
    """The contradictions the issue found: data 'not given' beside an accuracy section, 'no reference model' while
    inputs list one, a fixed 'about 4%' in the appendix, probe counts without their unit."""
    _, res = sign_scan
    ev = {"schema": "model-inspector/eval/1", "accuracy": 0.97, "samples": 360}
    data = build_report(res, evaluation=ev, eval_data="/data/eval.npz", inputs={"baselines": ["/m/ref.safetensors"]})
    html = render_html(data)
    row = next(r for r in data.inputs if r.label.startswith("Evaluation data"))
    assert row.value == "eval.npz (accuracy check only)" and "not given" not in row.value
    assert "No reference model was given" not in html and "ref.safetensors were given" in html
    assert "about 4%" not in html and "this model's unflagged weight matrices hold" in data.near_zero_note
    doc = res.to_json()
    doc["findings"] = [
        {
            "detector": "capacity-probe",
            "attack": "capacity-abuse",
            "tensor": None,
            "severity": "suspicious",
            "score": 0.8,
            "message": "the model answers 4,000 noise probes with classes 0–3 only",
            "evidence": {"probes": 2000},
        },
        {
            "detector": "sign-structure",
            "attack": "sign",
            "tensor": "fc1.weight",
            "severity": "warning",
            "score": 0.6,
            "message": "17% of weights within ±0.05σ of zero",
            "evidence": {"sign_excess": -0.0016, "near_zero": 0.17},
        },
    ]
    data = build_report(doc)
    cap, sgn = data.findings
    assert ("probes per family", "2,000") in [(r.label, r.value) for r in cap.evidence]
    assert sgn.attack_label.startswith("Weight-distribution shape") and "Sign encoding" not in sgn.attack_label


def test_scrub_section_states_the_verdict_on_the_scrubbed_model(sign_scan):
    _, res = sign_scan
    base = {"schema": "model-inspector/scrub/1", "bits": {"F32": 16}}
    inputs = {"baselines": [], "data": "eval.npz", "train_sample": None}
    cases = [
        ({"verdict": "clean", "score": 0.0, "detected": [], "inputs": inputs}, "sanitized: every family assessed"),
        (
            {"verdict": "incomplete", "score": 0.0, "detected": [], "not_assessed": ["capacity-abuse: --data"]},
            "scrubbed, incomplete",
        ),
        ({"verdict": "suspicious", "score": 0.97, "detected": ["sign"]}, "scrubbed, still suspicious: sign"),
        (None, "not re-judged"),
    ]
    for rejudged, words in cases:
        doc = {**base, **({"rejudged": rejudged} if rejudged else {})}
        section = next(s for s in build_report(res, scrub=doc).sections if s.title == "Scrub")
        row = next(r for r in section.rows if r.label == "Verdict on the scrubbed model")
        assert row.value.startswith(words) and row.missing == (not words.startswith("sanitized"))


def test_fine_tune_audit_section_lists_the_layers_most_changed_first():
    from inspector.core.report.sections import delta_rows

    doc = {
        "delta": {
            "base": "base.safetensors",
            "layers": [
                {"name": "fc2.weight", "relative_change": 0.2, "flips": 127, "flip_mass": 0.018, "chance_mass": 0.009},
                {
                    "name": "fc1.weight",
                    "relative_change": 0.36,
                    "flips": 2333,
                    "flip_mass": 0.083,
                    "chance_mass": 0.043,
                },
            ],
        },
        "findings": [{"detector": "delta-sign-flips", "tensor": "fc1.weight", "severity": "suspicious"}],
    }
    base, rows = delta_rows(doc)
    assert base == "base.safetensors"
    assert [r.layer for r in rows] == ["fc1.weight", "fc2.weight"]
    assert rows[0].change == "36.00%" and rows[0].flips == "2,333" and rows[0].flagged and not rows[1].flagged
    assert delta_rows({}) == ("", ())
