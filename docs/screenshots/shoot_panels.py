"""Render every view of the app offscreen to PNGs (for looking at them, and for the docs).

    QT_QPA_PLATFORM=offscreen python docs/screenshots/shoot_panels.py MODEL [--baseline REF] [--data EVAL]
        [--train TRAIN] [--out DIR]

Opens MODEL, waits for the scan, selects the most suspicious layer and saves one PNG per tab, the tile image
with θ as sign bytes and as values, a scrub preview and applied scrub, and (with --data) an accuracy check.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--baseline")
    ap.add_argument("--data")
    ap.add_argument("--train")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--size", default="1600x960")
    args = ap.parse_args(argv)

    import tempfile

    from PySide6.QtWidgets import QApplication

    from inspector.qt.app import make_app, save_screenshot
    from inspector.qt.main_window import MainWindow
    from inspector.qt.settings import open_settings

    app = make_app()
    w = MainWindow(open_settings(os.path.join(tempfile.mkdtemp(), "s.ini")))
    w.resize(*map(int, args.size.split("x")))
    w.show()
    out = Path(args.out)

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

    def idle():
        return not w.pool.active

    w.set_analysis_data(args.data, args.train)
    if args.baseline:
        w.set_baseline_path(args.baseline)
    w.open_path(args.model)
    wait(lambda: w.doc.result is not None and idle())
    shots = []
    for key in list(w.views):
        w.tabs.setCurrentWidget(w.views[key])
        wait(idle)
        shots.append(save_screenshot(w, out / f"panel_{key}.png"))
    w.tabs.setCurrentWidget(w.weights_image)
    for source in ("sign bytes", "values"):
        w.weights_image.set_view("weights", source, "8×8")
        wait(idle)
        shots.append(save_screenshot(w, out / f"panel_image_{source.replace(' ', '_')}.png"))
    scrub = w.views.get("scrub")
    if scrub is not None:
        w.tabs.setCurrentWidget(scrub)
        scrub.apply()
        wait(lambda: w.doc.scrubbed is not None and idle())
        shots.append(save_screenshot(w, out / "panel_scrub_applied.png"))
    acc = w.views.get("accuracy")
    if acc is not None and args.data:
        w.tabs.setCurrentWidget(acc)
        acc.evaluate()
        wait(lambda: acc.pair is not None and idle())
        acc.find_safe_bits()
        wait(lambda: acc.auto is not None and idle())
        shots.append(save_screenshot(w, out / "panel_accuracy_done.png"))
    w.shutdown()
    w.close()
    QApplication.processEvents()
    print("\n".join(map(str, shots)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
