"""In-app help: a guide per view and per attack family (F1 opens the current view's), each with a picture from
the demo zoo (an attacked model beside a benign one in the same view), how scores are graded, the keyboard
shortcuts (read from the window's own actions, so the sheet never drifts from them), and the terms the app shows.

The pictures live in ``resources/help``; ``docs/screenshots/guide_pictures.py`` renders them from the app.
"""

from __future__ import annotations

import html
from typing import Optional

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QTextBrowser, QVBoxLayout, QWidget

#: what each view measures, how to read it, and what an attack looks like there
VIEW_GUIDE: dict[str, tuple[str, str]] = {
    "histogram": (
        "Histogram",
        "The selected layer's weights counted in bins over every element, with the Gaussian of the same mean and "
        "σ (dashed) and, when a baseline is chosen, the matched baseline layer on the same bin edges (orange). "
        "<b>Attacks:</b> sign encoding squeezes weights towards zero (a spike in the middle, kurtosis 5–6, many "
        "weights within ±0.05σ); correlated-value encoding makes the shape follow the encoded data (skewed, "
        "lumpy); capacity abuse can look normal here. Log y shows the tails.",
    ),
    "grid": (
        "All layers",
        "Small multiples: every layer's density beside its baseline's, flagged layers first. Look for the one "
        "whose shape differs from its neighbours. Click a cell to select its layer.",
    ),
    "depth": (
        "Depth",
        "Every layer in model order (TensorBoard's distributions): bands between the percentiles a Gaussian puts "
        "at ±1σ, ±2σ and ±3σ and the median. Below, one point per layer for kurtosis (3 for a Gaussian), the per "
        "cent of weights within ±0.05σ of zero (≈4% for a Gaussian; sign encoding raises it), the low byte's "
        "entropy in bits (≈8 for trained weights; an LSB payload of text lowers it) and the highest detector "
        "score. Red and amber points are flagged layers. In a model of hundreds of layers the odd one stands out "
        "of its neighbours' line; click it to select it.",
    ),
    "bits": (
        "Bit planes",
        "How often each bit of the selected layer's values is 1. Trained weights have low mantissa bits at ≈50% "
        "each; an LSB payload (data written into the low bits) moves them away from 50% or makes whole planes "
        "constant. Exponent and sign bits are never 50% and are not evidence.",
    ),
    "image": (
        "Weights as image",
        "Weights laid out as tiles of pixels (e.g. 8×8 for the digits set). Correlated-value encoding makes the "
        "weights <i>be</i> the training images, scaled: the digits appear as values. Sign encoding stores one "
        "bit per weight in its sign: shown as sign bytes, the images appear. LSB payloads show in the low 16 "
        "bits of all floats.",
    ),
    "scrub": (
        "Scrub",
        "Randomises the k lowest mantissa bits of every float weight (or rounds them away) and previews the "
        "change on the selected layer. It removes LSB payloads; sign, correlated-value and capacity payloads "
        "survive by design, so the scrubbed model is judged again with the original's inputs (baseline, data, "
        "training sample). Apply, then Export: the button says <i>sanitized</i> only when that verdict is clean; "
        "a still-suspicious copy is written only after you confirm, marked “scrubbed, still suspicious”.",
    ),
    "compare": (
        "Showing and Compare",
        "After Apply every view shows the <b>scrubbed</b> copy; <b>Showing: Original | Scrubbed</b> in the "
        "second toolbar (Ctrl+T) switches every view between the two. <b>Compare</b> (Ctrl+K: off, side by side, "
        "difference) draws two states in every view, <i>original vs scrubbed</i> or <i>model vs baseline</i> "
        "(Ctrl+Shift+K). Differences are scrubbed − original, or model − baseline: the histogram as counts per "
        "bin on edges both share (red: more in the first, blue: more in the second); bit planes as the fraction "
        "of weights whose bit changed (a random k-bit scrub changes about half of each of the k lowest planes "
        "and nothing above) or, against a baseline, the change of P(bit = 1); weights as image as the difference "
        "of each value on one colour scale for the page; the table as Δ of each statistic (sortable); the "
        "findings as those that disappeared, appeared or stayed. A view that cannot compare says why.",
    ),
    "signoff": (
        "Sign-off",
        "The reviewer's decision for the report (the Sign-off dock, Ctrl+5): your name, approve / reject / needs "
        "changes, notes, and a tick for each suspicious or warning finding once you have read it and its "
        "evidence. <b>Approve</b> is refused while any of them is not ticked (the same rule as the command "
        "line's <code>report --ack</code>). Sign off records it with the time; File ▸ Export report carries it "
        "in the report's sign-off block. Editing it, or findings that change (another baseline, other inputs), "
        "take the record back until you sign again. Remembered for each model while the app runs.",
    ),
    "accuracy": (
        "Accuracy",
        "Accuracy of the original and the scrubbed model on your evaluation data, the share of predictions "
        "unchanged (agreement) and the mean KL divergence between their outputs. Find safe bits searches the "
        "largest k that keeps accuracy within the tolerance.",
    ),
}

#: the attack families of Song et al. (CCS 2017) and the checks behind them
FAMILY_GUIDE: dict[str, tuple[str, str]] = {
    "lsb": (
        "LSB encoding",
        "Training data written into the low mantissa bits of the weights. Checked by the bit planes and the "
        "low-byte windows over every element of every float tensor. Score: how far the planes are from what "
        "trained weights show (0 benign … 1 suspicious).",
    ),
    "correlated-value": (
        "Correlated value encoding",
        "The weights are trained to correlate with the secret data (a regulariser). The layer's values, order "
        "and phase statistics are compared with the baseline's; √η² (correlation ratio) measures how much of the "
        "value spread a hidden grouping explains.",
    ),
    "sign": (
        "Sign encoding",
        "One secret bit per weight in its sign, forced by a penalty that pushes weights towards zero. Kurtosis "
        "rises, many weights sit within ±0.05σ, and the sign sequence departs from the arcsine law (the "
        "distribution of a fair random walk's time above zero) that signs of trained weights follow.",
    ),
    "capacity-abuse": (
        "Capacity abuse",
        "The model is trained to output the secret for synthetic inputs. Only running the model with your "
        "evaluation data and architecture assesses it; without them this family is <i>not assessed</i> and the "
        "verdict is incomplete, never clean.",
    ),
    "non-float": (
        "Non-float payloads",
        "Bytes stored as integer, bool or fp8 tensors beside the weights (19,200 bytes of training images fit in "
        "one U8 tensor). Each non-float tensor gets a role (token ids, masks, counters, quantised weights beside "
        "their scales, training state); one over 4 KB that no role explains is suspicious. Weights as image on "
        "the selected layer shows what its bytes hold. The export drops such tensors unless you keep them.",
    ),
    "metadata": (
        "Metadata",
        "Text in the file's header (safetensors <code>__metadata__</code>) can carry a payload too: a value of "
        "1,024 characters or more that decodes strictly as base64, hex or base85 is suspicious; Properties lists "
        "every key. The export keeps only known keys plus its own provenance.",
    ),
    "code-execution": (
        "Code on load",
        "A PyTorch pickle can name a function that <code>torch.load</code> would call (e.g. "
        "<code>os.system</code>). Model Inspector reads pickles with its own interpreter, never runs such a call, "
        "and reports it with the byte offset: the verdict is suspicious whatever the weights look like.",
    ),
}

#: pictures (files in ``resources/help``) of each section, made by docs/screenshots/guide_pictures.py
PICTURES: dict[str, tuple[str, ...]] = {
    "histogram": ("histogram-sign.png",),
    "grid": ("grid-sign.png",),
    "depth": ("depth-deep.png",),
    "bits": ("bits-lsb.png",),
    "image": ("image-sign.png",),
    "lsb": ("bits-lsb.png",),
    "correlated-value": ("image-cor.png",),
    "sign": ("image-sign.png", "histogram-sign.png"),
    "capacity-abuse": ("findings-capacity.png",),
    "non-float": ("nonfloat-u8.png",),
    "metadata": ("metadata-blob.png",),
    "code-execution": ("findings-hostile.png",),
    "scrub": ("scrub-lsb.png",),
    "accuracy": ("accuracy-safe-bits.png",),
}

#: how a score is graded, where the app shows one (findings, the layer table's detector columns, Depth)
SCORES = (
    "Each detector measures its evidence <i>e</i> in units of its own suspicious threshold (set on benign "
    "models of the tuning zoo) and shows the score 1 − 0.3<sup><i>e</i></sup>: <b>0</b> no evidence, "
    "<b>0.45</b> at half the threshold (a <span style='color:#d78c00'><b>warning</b></span> from here), "
    "<b>0.70</b> at the threshold (<span style='color:#c82828'><b>suspicious</b></span> from here), 0.91 at "
    "twice it; below 0.45 a finding is information only. A few checks are certain and score 1 (a file that "
    "would run code when loaded). The model's score is its highest warning or suspicious finding's; it ranks "
    "models, while the verdict comes from the families: <b>clean</b> only when every family was assessed and "
    "none detected, <b>incomplete</b> (amber) when one was not assessed (the Inputs dock names what would "
    "assess it), <b>suspicious</b> when one was detected."
)

TERMS = (
    ("score", "0 (nothing unusual) … 1; warning from 0.45, suspicious from 0.70 (see Scores above)"),
    ("±0.05σ fraction", "share of weights within 0.05 standard deviations of zero: ≈4% for a Gaussian"),
    ("kurtosis", "tailedness: 3 for a Gaussian; sign encoding gives 5–6"),
    ("Wasserstein σ", "distance between the layer's and the baseline layer's distributions, in units of σ"),
    ("low-byte entropy", "entropy of each weight's lowest byte in bits: ≈8 for trained weights"),
)


def picture_path(name: str) -> str:
    """The file of a guide picture (``resources/help/NAME``)."""
    from inspector.core.resources import resource_path

    return str(resource_path("help", name))


def guide_html(key: Optional[str] = None, width: int = 560) -> str:
    """The whole guide as HTML; ``key`` (a view or family) comes first. Each picture is shown once, at most
    ``width`` pixels wide; a later section that shares it points back to it."""
    parts = []
    sections = [*VIEW_GUIDE.items(), *FAMILY_GUIDE.items()]
    sections.sort(key=lambda kv: kv[0] != key)
    shown: dict[str, str] = {}
    for i, (k, (title, text)) in enumerate(sections):
        parts.append(f"<h3><a name='{k}'></a>{html.escape(title)}</h3><p>{text}</p>")
        for name in PICTURES.get(k, ()):
            if name in shown:
                parts.append(f"<p><i>Picture: under “{html.escape(shown[name])}” in this guide.</i></p>")
                continue
            shown[name] = title
            src = html.escape(QUrl.fromLocalFile(picture_path(name)).toString(), quote=True)
            parts.append(f'<p><img src="{src}" width="{width}"></p>')
        if i == 0:  # right after the view the reader came from: how to read the scores it shows
            parts.append(f"<h3><a name='scores'></a>Scores</h3><p>{SCORES}</p>")
    terms = "".join(f"<tr><td><b>{html.escape(t)}</b></td><td>{html.escape(d)}</td></tr>" for t, d in TERMS)
    parts.append(f"<h3>Terms</h3><table cellpadding='3'>{terms}</table>")
    return "".join(parts)


def shortcuts(window: QWidget) -> list[tuple[str, str]]:
    """(key, what) for every action of ``window`` that has a shortcut, read from the actions themselves."""
    seen: dict[str, str] = {}
    for act in window.findChildren(QAction):
        key = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        text = act.text().replace("&", "").rstrip("…")
        if key and text and key not in seen:
            seen[key] = text
    return sorted(seen.items(), key=lambda kv: kv[1].lower())


def shortcuts_html(window: QWidget) -> str:
    rows = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(t)}</td></tr>" for k, t in shortcuts(window))
    return f"<h3>Keyboard shortcuts</h3><table cellpadding='3'>{rows}</table>"


class HelpDialog(QDialog):
    """A non-modal browser for the guide and the shortcuts sheet."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model Inspector guide")
        self.resize(640, 620)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        QVBoxLayout(self).addWidget(self.browser)

    def show_html(self, title: str, body: str) -> None:
        self.setWindowTitle(title)
        self.browser.setHtml(body)
        self.show()
        self.raise_()
