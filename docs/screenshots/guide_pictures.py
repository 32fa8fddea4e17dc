"""Render the pictures of the in-app guide (Help ▸ Guide, F1) from the app, offscreen, on the demo zoo.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/guide_pictures.py [--out resources/help]

Each picture shows one view as a reviewer sees it; where an attack leaves a mark, a benign model of the zoo
stands beside the attacked one in the same view with the same settings (what an LSB payload looks like in the
bit planes against benign weights, and so on). Each PNG is kept under 100 KB; ``inspector.qt.help`` names them
(``PICTURES``) and a test checks that every name exists and stays small.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: the largest picture the guide carries
MAX_BYTES = 100_000
#: width of one view in a picture, in pixels (two side by side make a picture about 2 × this wide); a picture of
#: one view alone is WIDE_WIDTH wide
PANE_WIDTH = 330
WIDE_WIDTH = 600


def make_carriers(folder: Path, benign: Path, sample: Path) -> tuple[Path, Path]:
    """Two copies of ``benign`` carrying the training sample's 300 digits outside the float weights: as a U8
    tensor beside them (19,200 bytes), and base64-encoded in the safetensors header's metadata."""
    import base64

    import numpy as np
    from safetensors.numpy import load_file, save_file

    weights = load_file(str(benign))
    digits = (np.load(sample)["inputs"] * 255).round().astype(np.uint8)  # (300, 64)
    u8 = folder / "benign-with-u8-buffer.safetensors"
    save_file({**weights, "extra.buffer": digits}, str(u8))
    meta = folder / "benign-with-metadata-blob.safetensors"
    save_file(weights, str(meta), metadata={"notes": base64.b64encode(digits.tobytes()).decode()})
    return u8, meta


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser()
    here = Path(__file__).resolve()
    ap.add_argument("--out", default=str(here.parents[2] / "resources" / "help"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(here.parent))

    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter
    from shoot_panels import make_deep_model

    from inspector.core.resources import resource_path
    from inspector.qt.app import make_app
    from inspector.qt.help import PICTURES
    from inspector.qt.main_window import MainWindow
    from inspector.qt.settings import open_settings

    app = make_app()
    tmp = Path(tempfile.mkdtemp(prefix="mi-guide-"))
    demo = resource_path("demo")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counter = [0]

    def wait(cond: Callable[[], bool], timeout: float = 300.0) -> None:
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError
        for _ in range(30):  # let debounced views draw
            app.processEvents()
            time.sleep(0.02)

    def view(
        model: Path,
        tab: str,
        layer: Optional[str] = None,
        setup: Optional[Callable[[MainWindow], None]] = None,
        data: Optional[Path] = None,
        width: int = PANE_WIDTH,
    ) -> QImage:
        """One view of ``model`` (``tab`` a key of ``MainWindow.views``, ``"findings"`` or ``"properties"``);
        ``data``: evaluation data given (as in the Inputs dock) before the scan."""
        counter[0] += 1
        w = MainWindow(open_settings(str(tmp / f"s{counter[0]}.ini")))
        w.resize(1600, 900)
        w.show()
        if data is not None:
            w.set_analysis_data(str(data))
        w.open_path(str(model))
        wait(lambda: w.doc.result is not None and str(w.doc.path) == str(model) and not w.pool.active)
        if layer:
            w.doc.select(layer)
        docks = {"findings": w.findings, "properties": w.properties}
        widget = docks.get(tab) or w.views[tab]
        if tab not in docks:
            w.tabs.setCurrentWidget(widget)
        elif tab == "properties":
            w.properties_dock.raise_()  # tabbed behind the findings
        if setup is not None:
            setup(w)
        wait(lambda: not w.pool.active)
        img = widget.grab().toImage()
        w.shutdown()
        w.close()
        return img.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)

    def compose(panes: list[tuple[str, QImage]]) -> QImage:
        """Panes side by side, each under its caption."""
        cap = 22
        width = sum(p.width() for _, p in panes) + 8 * (len(panes) - 1)
        height = max(p.height() for _, p in panes) + cap
        img = QImage(width, height, QImage.Format.Format_RGB32)
        img.fill(QColor(255, 255, 255))
        painter = QPainter(img)
        font = QFont()
        font.setPointSize(10)
        font.setBold(True)
        painter.setFont(font)
        x = 0
        for caption, pane in panes:
            painter.setPen(QColor(40, 40, 40))
            painter.drawText(QRect(x, 0, pane.width(), cap), Qt.AlignmentFlag.AlignCenter, caption)
            painter.drawImage(x, cap, pane)
            x += pane.width() + 8
        painter.end()
        return img

    def save(name: str, img: QImage) -> None:
        path = out / name
        for attempt in range(4):
            small = img if attempt == 0 else img.scaledToWidth(int(img.width() * 0.85**attempt))
            indexed = small.convertToFormat(QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither)
            if not indexed.save(str(path), "PNG", 0):  # type: ignore[call-overload]  # str at run time
                raise OSError(f"could not write {path}")
            if path.stat().st_size < MAX_BYTES:
                break
        print(f"{path}  {path.stat().st_size // 1024} KB", file=sys.stderr)

    benign = demo / "mlp-benign-s0.safetensors"

    def image(source: str) -> Callable[[MainWindow], None]:
        return lambda w: w.weights_image.set_view("weights", source, "8×8")

    def whole_range(w: MainWindow) -> None:
        w.histogram.reset_btn.click()  # the layer's whole range, as Reset zoom shows it

    made = {
        "bits-lsb.png": compose(
            [
                ("benign: low bits ≈ 50% ones", view(benign, "bits", "fc1.weight")),
                ("LSB payload: low 16 bits off 50%", view(demo / "mlp-lsb-raw-b16.safetensors", "bits", "fc1.weight")),
            ]
        ),
        "image-sign.png": compose(
            [
                ("benign: sign bytes are noise", view(benign, "image", "fc1.weight", image("sign bytes"))),
                (
                    "sign encoding: digits in the signs",
                    view(demo / "mlp-sgn-l100.safetensors", "image", "fc1.weight", image("sign bytes")),
                ),
            ]
        ),
        "image-cor.png": compose(
            [
                ("benign: values are noise", view(benign, "image", "fc1.weight", image("values"))),
                (
                    "correlated value: digits in the values",
                    view(demo / "mlp-cor-l5.safetensors", "image", "fc1.weight", image("values")),
                ),
            ]
        ),
        "histogram-sign.png": compose(
            [
                ("benign (weight decay: a peak at 0)", view(benign, "histogram", "fc1.weight", whole_range)),
                (
                    "sign encoding: taller, narrower peak",
                    view(demo / "mlp-sgn-l100.safetensors", "histogram", "fc1.weight", whole_range),
                ),
            ]
        ),
        "findings-capacity.png": compose(
            [
                ("weights only: not assessed", view(demo / "mlp-cap-n10.safetensors", "findings")),
                (
                    "with eval data: the probe detects it",
                    view(demo / "mlp-cap-n10.safetensors", "findings", data=demo / "eval.npz"),
                ),
            ]
        ),
    }

    u8, meta = make_carriers(tmp, benign, demo / "train_sample.npz")
    made["nonfloat-u8.png"] = compose(
        [
            ("non-float: an unexplained U8 tensor", view(u8, "findings")),
            (
                "the same tensor as an image: the digits",
                view(u8, "image", "extra.buffer", lambda w: w.weights_image.set_view("layer", "values", "8×8")),
            ),
        ]
    )
    made["metadata-blob.png"] = compose(
        [
            ("metadata: 25,600 base64 characters", view(meta, "findings")),
            ("Properties: what the header holds", view(meta, "properties")),
        ]
    )
    made["findings-hostile.png"] = compose(
        [("code on load: a call in the pickle", view(demo / "hostile-call-on-load.pt", "findings"))]
    )

    def scrubbed(w: MainWindow) -> None:
        w.views["scrub"].apply()  # type: ignore[attr-defined]
        wait(lambda: w.doc.scrubbed is not None and not w.pool.active)
        w.doc.set_compare("side", "scrub")

    made["scrub-lsb.png"] = compose(
        [
            (
                "a 16-bit scrub of the LSB demo: its planes before and after",
                view(demo / "mlp-lsb-raw-b16.safetensors", "bits", "fc1.weight", scrubbed, width=WIDE_WIDTH),
            )
        ]
    )

    def safe_bits(w: MainWindow) -> None:
        acc = w.views["accuracy"]
        acc.evaluate()  # type: ignore[attr-defined]
        wait(lambda: acc.pair is not None and not w.pool.active)  # type: ignore[attr-defined]
        acc.find_safe_bits()  # type: ignore[attr-defined]
        wait(lambda: acc.auto is not None and not w.pool.active)  # type: ignore[attr-defined]

    made["accuracy-safe-bits.png"] = compose(
        [
            (
                "accuracy and agreement after scrubbing k low bits",
                view(demo / "mlp-sgn-l100.safetensors", "accuracy", None, safe_bits, demo / "eval.npz", WIDE_WIDTH),
            )
        ]
    )

    deep = make_deep_model(tmp / "deep-339.safetensors")
    made["depth-deep.png"] = compose(
        [
            (
                "339 tensors: the LSB layer flagged red; layer 17 odd in kurtosis and ±0.05σ",
                view(deep, "depth", width=WIDE_WIDTH),
            )
        ]
    )
    made["grid-sign.png"] = compose(
        [
            (
                "sign encoding: both weight layers flagged (red)",
                view(demo / "mlp-sgn-l100.safetensors", "grid", width=WIDE_WIDTH),
            )
        ]
    )
    missing = {n for names in PICTURES.values() for n in names} - set(made)
    if missing:
        raise SystemExit(f"the guide names pictures this script does not make: {sorted(missing)}")
    for name, img in made.items():
        save(name, img)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
