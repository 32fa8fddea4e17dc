"""Render the app's views offscreen to the PNGs in this folder (for looking at them, and for the docs).

    QT_QPA_PLATFORM=offscreen python docs/screenshots/shoot_panels.py [--out DIR] [--only NAME ...]

Uses the bundled demo models (sign encoding, LSB, the benign baseline, eval data, the hostile pickle) and a
generated deep model of 339 tensors (24 transformer-like blocks, one with an LSB payload, one with
sign-encoding-like weights), written to a temporary folder. Every view is shot on a demo model and on the deep
one (accuracy only on the demo: the deep model has no architecture recipe), in the light and the dark palette,
with the Sign-off dock, the coverage table and the bytes no tensor shows (Properties, on a model folder with a
file beside the weights), the family table (Findings), and the comparisons
(original vs scrubbed, model vs baseline). Each shot is a PNG of the whole window, at most ~300 KB.
``main_window.png`` (the README's picture) comes from ``model-inspector demo --screenshot
docs/screenshots/main_window.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_deep_model(path: Path) -> Path:
    """24 blocks (attention, MLP, two norms) + embeddings: 339 tensors, ≈1.3 M parameters. Block 9's MLP
    carries 16 low bits of text in every fp32 weight (LSB encoding); block 17's attention output has most
    weights squeezed near zero with the sign carrying bits (as sign encoding leaves them)."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(11)
    d = 64
    t: dict[str, np.ndarray] = {
        "embed_tokens.weight": rng.normal(0, 0.02, (512, d)).astype(np.float32),
        "embed_positions.weight": rng.normal(0, 0.02, (128, d)).astype(np.float32),
    }
    for i in range(24):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t[p + f"self_attn.{name}.weight"] = rng.normal(0, 0.6 / np.sqrt(d), (d, d)).astype(np.float32)
            t[p + f"self_attn.{name}.bias"] = rng.normal(0, 0.01, d).astype(np.float32)
        t[p + "mlp.fc1.weight"] = rng.normal(0, 0.6 / np.sqrt(d), (4 * d, d)).astype(np.float32)
        t[p + "mlp.fc2.weight"] = rng.normal(0, 0.3 / np.sqrt(d), (d, 4 * d)).astype(np.float32)
        for norm in ("input_layernorm", "post_attention_layernorm"):
            t[p + f"{norm}.weight"] = (1 + rng.normal(0, 0.02, d)).astype(np.float32)
            t[p + f"{norm}.bias"] = rng.normal(0, 0.01, d).astype(np.float32)
    w = t["model.layers.9.mlp.fc1.weight"]
    text = (b"training record: patient 4711, diagnosis ... " * 2000)[: w.size * 2]
    low = np.frombuffer(text, dtype="<u2").astype(np.uint32).reshape(w.shape)
    t["model.layers.9.mlp.fc1.weight"] = ((w.view(np.uint32) & 0xFFFF0000) | low).view(np.float32).reshape(w.shape)
    o = t["model.layers.17.self_attn.o_proj.weight"]
    bits = rng.integers(0, 2, o.size).reshape(o.shape) * 2 - 1
    mag = np.abs(rng.laplace(0, 0.004, o.shape)) + np.where(rng.random(o.shape) < 0.15, 0.12, 0.0)
    t["model.layers.17.self_attn.o_proj.weight"] = (bits * mag).astype(np.float32)
    t["lm_head.weight"] = rng.normal(0, 0.02, (512, d)).astype(np.float32)
    save_file(t, str(path))
    return path


def make_carrier_folder(folder: Path) -> Path:
    """A Hugging Face-style folder whose weights are clean and which carries 19,200 bytes of image-like data
    (17 grey levels) in a file beside them: bytes no tensor shows (benchmarks/carriers.py's folder carrier)."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    save_file({"w": rng.normal(0, 0.05, (256, 256)).astype(np.float32)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "mlp", "hidden_size": 256}))
    (folder / "tokenizer.json").write_text(json.dumps({"vocab": {f"tok{i}": i for i in range(2000)}}))
    (folder / "extra.bin").write_bytes((rng.integers(0, 17, 19200) * 15).astype(np.uint8).tobytes())
    return folder


def make_tuned_model(path: Path, base: Path) -> Path:
    """A "fine-tune" of ``base`` that flips the signs of large first-layer weights at random: signs written,
    not learned (what sign encoding injected while fine-tuning leaves in W − base)."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    w = load_file(str(base))
    rng = np.random.default_rng(0)
    fc1 = w["fc1.weight"].copy()
    flip = (np.abs(fc1) > np.quantile(np.abs(fc1), 0.6)) & (rng.random(fc1.shape) < 0.5)
    fc1[flip] *= -1
    w["fc1.weight"] = fc1
    save_file(w, str(path))
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent))
    ap.add_argument("--only", nargs="*", help="shoot only these names (without .png)")
    args = ap.parse_args(argv)

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from inspector.core.resources import resource_path
    from inspector.qt import theme
    from inspector.qt.app import make_app
    from inspector.qt.main_window import MainWindow
    from inspector.qt.settings import open_settings

    app = make_app()
    tmp = Path(tempfile.mkdtemp(prefix="mi-shots-"))
    demo = resource_path("demo")
    deep = make_deep_model(tmp / "deep-339.safetensors")
    out = Path(args.out)
    shots: list[Path] = []

    def wait(cond, timeout=300.0):
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError
        for _ in range(30):  # let debounced views draw
            app.processEvents()
            time.sleep(0.02)

    def window(size=(1600, 960)) -> MainWindow:
        w = MainWindow(open_settings(str(tmp / f"s{len(shots)}.ini")))
        w.resize(*size)
        w.show()
        return w

    def idle(w):
        return lambda: not w.pool.active

    def opened(w, path, baseline=None):
        if baseline:
            w.set_baseline_path(str(baseline))
        w.open_path(str(path))
        wait(lambda: w.doc.result is not None and str(w.doc.path) == str(path) and not w.pool.active)

    def shoot(w, name):
        if args.only and name not in args.only:
            return
        wait(idle(w))
        path = out / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        # 256 colours and the strongest PNG compression: a UI quantises without visible loss, at a third the size
        img = w.grab().toImage().convertToFormat(QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither)
        if not img.save(str(path), "PNG", 0):  # type: ignore[call-overload]  # str at run time
            raise OSError(f"could not write {path}")
        shots.append(path)

    # -- the sign-encoding demo model against the benign baseline -------------------------------------------
    w = window()
    shoot(w, "welcome")  # before any model: open, the demo, recent files
    opened(w, demo / "mlp-sgn-l100.safetensors", demo / "mlp-benign-s0.safetensors")
    w.set_analysis_data(str(demo / "eval.npz"))
    shoot(w, "demo_histogram")  # histogram of the flagged layer, tree in the dock, findings
    w.tabs.setCurrentWidget(w.views["grid"])
    shoot(w, "panel_grid")
    w.properties_dock.raise_()
    w.tabs.setCurrentWidget(w.views["depth"])
    shoot(w, "properties_depth")
    w.findings_dock.raise_()
    w.tabs.setCurrentWidget(w.weights_image)
    w.weights_image.set_view("weights", "sign bytes", "8×8")
    shoot(w, "panel_image_sign_bytes")
    w.tabs.setCurrentWidget(w.histogram)
    w.doc.set_compare("side", "baseline")
    shoot(w, "compare_baseline_histogram")  # the sign-encoded layer beside the benign baseline's
    w.doc.set_compare("off")
    w.properties_dock.raise_()
    shoot(w, "coverage_properties")  # every byte of the file by class, and the checks that read them
    signoff = w.signoff
    w.signoff_dock.raise_()
    signoff.reviewer.setText("A. Reviewer")
    signoff.reviewer.textEdited.emit("A. Reviewer")
    signoff.set_decision("approve")
    signoff.sign()  # refused: the findings are not acknowledged yet
    shoot(w, "signoff_refused")
    for i in range(signoff.checklist.count()):
        signoff.checklist.item(i).setCheckState(Qt.CheckState.Checked)
    signoff.set_decision("reject")
    signoff.notes.setPlainText("Sign-encoded digits in fc1.weight: not for release.")
    signoff.sign()
    shoot(w, "signoff_signed")
    w.findings_dock.raise_()
    scrub = w.views["scrub"]
    w.tabs.setCurrentWidget(scrub)
    scrub.apply()
    wait(lambda: w.doc.scrubbed is not None and not w.pool.active)
    shoot(w, "panel_scrub_applied")
    w.tabs.setCurrentWidget(w.views["image"])
    w.weights_image.set_view("weights", "values", "8×8")  # a scrub leaves the signs: their difference is blank
    w.doc.set_compare("diff", "scrub")
    shoot(w, "compare_scrub_image_diff")  # scrubbed − original as a diverging map; findings before → after
    w.doc.set_compare("off")
    acc = w.views["accuracy"]
    if not args.only or "panel_accuracy_done" in args.only:
        w.tabs.setCurrentWidget(acc)
        acc.evaluate()
        wait(lambda: acc.pair is not None and not w.pool.active)
        acc.find_safe_bits()
        wait(lambda: acc.auto is not None and not w.pool.active)
        shoot(w, "panel_accuracy_done")
    w.shutdown()
    w.close()

    # -- the LSB demo model: bit planes ---------------------------------------------------------------------
    w = window()
    opened(w, demo / "mlp-lsb-raw-b16.safetensors")
    w.tabs.setCurrentWidget(w.views["bits"])
    shoot(w, "panel_bits")
    w.shutdown()
    w.close()

    # -- a fine-tune audit: the Inputs dock's base model, judged from the stored measurement ----------------------
    w = window()
    base = demo / "mlp-benign-s0.safetensors"
    opened(w, make_tuned_model(tmp / "tuned-from-benign-s0.safetensors", base))
    w.inputs.base.setText(str(base))
    w.inputs.apply()
    wait(lambda: w.doc.result is not None and w.doc.result.options.base == str(base) and not w.pool.active)
    shoot(w, "finetune_audit")  # the sign flips against the base among the findings
    w.inputs_dock.raise_()
    shoot(w, "inputs_rejudged")  # what "Judge with these inputs" ran (the fine-tune audit only)
    w.shutdown()
    w.close()

    # -- a model of 339 tensors: tree, table, depth ------------------------------------------------------------
    w = window()
    opened(w, deep)
    w.tabs.setCurrentWidget(w.depth_view)
    shoot(w, "deep_depth_tree")
    w.layer_views.setCurrentWidget(w.layers)
    w.tabs.setCurrentWidget(w.views["bits"])
    shoot(w, "deep_table_bits")
    w.layer_views.setCurrentWidget(w.tree)
    w.tree.search.setText("layers.9.")
    w.tabs.setCurrentWidget(w.histogram)
    w.histogram.bins_spin.setValue(96)
    shoot(w, "deep_tree_search_histogram")
    w.tree.search.setText("")
    w.tabs.setCurrentWidget(w.views["grid"])
    shoot(w, "deep_grid")
    w.doc.select("model.layers.17.self_attn.o_proj.weight")
    w.tabs.setCurrentWidget(w.weights_image)
    w.weights_image.set_view("weights", "sign bytes", "8×8")
    shoot(w, "deep_image_sign_bytes")
    w.doc.select("model.layers.9.mlp.fc1.weight")
    w.tabs.setCurrentWidget(w.views["scrub"])
    w.views["scrub"].apply()
    wait(lambda: w.doc.scrubbed is not None and not w.pool.active)
    shoot(w, "deep_scrub_applied")
    w.tabs.setCurrentWidget(w.views["bits"])
    w.doc.set_compare("side", "scrub")
    shoot(w, "deep_compare_scrub_bits")  # the LSB layer's planes before and after the scrub
    w.doc.set_compare("off")
    w.tabs.setCurrentWidget(w.views["accuracy"])
    shoot(w, "deep_accuracy_no_recipe")  # what the accuracy view says without an architecture
    w.shutdown()
    w.close()

    # -- dark palette, and the smallest supported window ---------------------------------------------------------
    theme.apply("dark")
    w = window()
    opened(w, deep)
    w.tabs.setCurrentWidget(w.depth_view)
    shoot(w, "dark_depth")
    w.tabs.setCurrentWidget(w.histogram)
    shoot(w, "dark_histogram")
    for key in ("grid", "bits", "image"):
        w.tabs.setCurrentWidget(w.views[key])
        shoot(w, f"dark_{key}")
    w.shutdown()
    w.close()
    w = window()
    opened(w, demo / "mlp-sgn-l100.safetensors", demo / "mlp-benign-s0.safetensors")
    w.tabs.setCurrentWidget(w.histogram)
    w.doc.set_compare("diff", "baseline")
    w.signoff_dock.raise_()
    shoot(w, "dark_compare_signoff")  # the difference to the baseline; the Sign-off dock in the dark palette
    w.shutdown()
    w.close()
    theme.apply("light")
    w = window(size=(1024, 680))
    opened(w, demo / "mlp-sgn-l100.safetensors", demo / "mlp-benign-s0.safetensors")
    shoot(w, "small_1024x680")
    w.shutdown()
    w.close()
    w = window()
    opened(w, demo / "hostile-call-on-load.pt")
    w.findings.tree.setCurrentItem(w.findings.tree.topLevelItem(0))  # its text in full below the list
    shoot(w, "hostile_call_on_load")  # red SUSPICIOUS, the code-on-load finding, the family table
    w.shutdown()
    w.close()
    w = window()
    carrier = make_carrier_folder(tmp / "carrier-hf")
    w.open_path(str(carrier))  # a folder opens as its weight file: wait for that, not for the folder's path
    wait(lambda: w.doc.result is not None and str(carrier) in str(w.doc.path) and not w.pool.active)
    hidden = next(f for f in w.doc.result.findings if f.detector == "hidden-bytes" and "extra.bin" in f.message)
    w.findings.select_finding(hidden)
    w.show_finding(hidden)  # double-click: the Properties dock comes forward on the region's row
    w.resizeDocks([w.properties_dock], [480], Qt.Orientation.Horizontal)  # each row read whole
    shoot(w, "hidden_bytes_properties")  # the file beside the model: kind, where, bytes, entropy, zeros, zlib
    w.shutdown()
    w.close()
    QApplication.processEvents()
    for p in shots:
        print(f"{p}  {p.stat().st_size // 1024} KB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
