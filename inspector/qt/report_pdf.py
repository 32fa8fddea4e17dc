"""The report as PDF, laid out by Qt's rich-text engine (``QTextDocument``) and written by ``QPdfWriter``.

Qt is already a dependency of the app, so PDF export needs nothing new. The HTML is the same template rendered
in ``pdf`` mode (Qt's CSS subset); SVG figures are drawn as vectors by ``QSvgRenderer`` through a custom text
object, PNG figures are embedded as images. It lives beside the app, not in ``core``, because the layout engine
is Qt's; ``core.report.write_report`` takes :func:`render_pdf` as a parameter (the CLI and the app pass it).
Qt is imported lazily, so ``model-inspector report -o x.html`` never loads it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from inspector.core.errors import InspectorError
from inspector.core.report import ReportData, render_html

#: Width of the text area in CSS pixels (1/96 inch) on A4 with 14 mm margins: figures wider are scaled down.
TEXT_WIDTH_PX = 670
_LOCK = threading.Lock()


def _qt() -> Any:
    try:
        from PySide6 import QtCore, QtGui, QtSvg
    except ImportError as e:  # pragma: no cover - PySide6 is a dependency
        raise InspectorError(
            "PDF reports need PySide6 (Qt)", hint="Install PySide6-Essentials, or write the report as .html"
        ) from e
    return QtCore, QtGui, QtSvg


def _ensure_app(QtCore: Any, QtGui: Any) -> None:
    """Fonts and text layout need a QGuiApplication; make an offscreen one when none exists (CLI, tests)."""
    if QtCore.QCoreApplication.instance() is not None:
        return
    if threading.current_thread() is not threading.main_thread():
        raise InspectorError("PDF reports must be written from the main thread when no Qt application runs")
    if "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    global _APP
    _APP = QtGui.QGuiApplication(["model-inspector"])


_APP: Any = None
_HANDLER_CLASS: Any = None


def _handler_class(QtCore: Any, QtGui: Any, QtSvg: Any) -> Any:
    """A QTextObjectInterface that draws SVG markup (stored as a format property) as vectors."""
    global _HANDLER_CLASS
    if _HANDLER_CLASS is not None:
        return _HANDLER_CLASS

    class SvgTextObject(QtGui.QPyTextObject):
        SVG_PROPERTY = QtGui.QTextFormat.Property.UserProperty + 1
        WIDTH = QtGui.QTextFormat.Property.UserProperty + 2
        HEIGHT = QtGui.QTextFormat.Property.UserProperty + 3

        def _scale(self, doc: Any) -> float:
            dev = doc.documentLayout().paintDevice()
            return dev.logicalDpiY() / 96.0 if dev is not None else 1.0

        def intrinsicSize(self, doc, pos, fmt):  # noqa: N802 (Qt's name)
            s = self._scale(doc)
            return QtCore.QSizeF(fmt.doubleProperty(self.WIDTH) * s, fmt.doubleProperty(self.HEIGHT) * s)

        def drawObject(self, painter, rect, doc, pos, fmt):  # noqa: N802 (Qt's name)
            renderer = QtSvg.QSvgRenderer(QtCore.QByteArray(fmt.property(self.SVG_PROPERTY)))
            renderer.render(painter, rect)

    _HANDLER_CLASS = SvgTextObject
    return SvgTextObject


def _fit(w: float, h: float) -> tuple[float, float]:
    if w <= TEXT_WIDTH_PX:
        return w, h
    return TEXT_WIDTH_PX, h * TEXT_WIDTH_PX / w


def render_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes (A4). Same content as the HTML report; figures stay vector graphics."""
    QtCore, QtGui, QtSvg = _qt()
    with _LOCK:
        _ensure_app(QtCore, QtGui)
        handler_cls = _handler_class(QtCore, QtGui, QtSvg)
        doc = QtGui.QTextDocument()
        doc.setDefaultFont(QtGui.QFont("DejaVu Sans", 9))
        png = QtGui.QTextDocument.ResourceType.ImageResource
        for fid, fig in data.figures.items():
            w, h = _fit(fig.width, fig.height)
            if fig.kind == "png":
                image = QtGui.QImage.fromData(QtCore.QByteArray(fig.content), "PNG")
                doc.addResource(png, QtCore.QUrl(f"fig:{fid}"), image)
            else:  # a blank placeholder for layout until the SVG object replaces it below
                blank = QtGui.QImage(1, 1, QtGui.QImage.Format.Format_ARGB32)
                blank.fill(0)
                for k in range(len(fig.pieces)):
                    doc.addResource(png, QtCore.QUrl(f"fig:{fid}#{k}"), blank)
        doc.setHtml(render_html(data, mode="pdf", fit=_fit))
        handler = handler_cls(doc)
        object_type = QtGui.QTextFormat.ObjectTypes.UserObject + 1
        doc.documentLayout().registerHandler(object_type, handler)
        _swap_svg_images(QtGui, doc, data, object_type, handler_cls)
        buf = QtCore.QBuffer()
        buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
        writer = QtGui.QPdfWriter(buf)
        writer.setPageSize(QtGui.QPageSize(QtGui.QPageSize.PageSizeId.A4))
        writer.setPageMargins(QtCore.QMarginsF(0, 0, 0, 0))
        writer.setResolution(_DPI)
        writer.setTitle(data.title)
        writer.setCreator(f"model-inspector {data.tool_version}")
        _paginate(QtCore, QtGui, doc, writer, data)
        del writer
        buf.close()
        return bytes(buf.data())


#: Output resolution; the document is laid out in CSS pixels (96 per inch) and scaled to it.
_DPI = 300
_MM = 96 / 25.4
_PAGE_W, _PAGE_H = 210 * _MM, 297 * _MM
_MARGIN = 14 * _MM
_FOOTER = 9 * _MM


def _paginate(QtCore: Any, QtGui: Any, doc: Any, writer: Any, data: ReportData) -> None:
    """Lay the document out on A4 pages at 96 px per inch and draw every page with a footer naming the model
    (pages of a printed report get separated)."""
    body_w = _PAGE_W - 2 * _MARGIN
    body_h = _PAGE_H - 2 * _MARGIN - _FOOTER
    doc.setPageSize(QtCore.QSizeF(body_w, body_h))
    doc.setDocumentMargin(0)
    pages = doc.pageCount()
    scale = _DPI / 96.0
    painter = QtGui.QPainter(writer)
    try:
        footer_font = QtGui.QFont("DejaVu Sans")
        footer_font.setPixelSize(9)
        sha = (data.scan_json.get("model") or {}).get("sha256") or ""
        left = f"{data.file_name} · {data.verdict.upper()} · sha256 {sha[:16]}…"
        for i in range(pages):
            if i:
                writer.newPage()
            painter.save()
            painter.scale(scale, scale)
            painter.translate(_MARGIN, _MARGIN - i * body_h)
            clip = QtCore.QRectF(0, i * body_h, body_w, body_h)
            painter.setClipRect(clip)
            doc.drawContents(painter, clip)
            painter.restore()
            painter.save()
            painter.scale(scale, scale)
            painter.setFont(footer_font)
            painter.setPen(QtGui.QColor("#666666"))
            y = _PAGE_H - _MARGIN - _FOOTER / 2 + 8
            painter.drawLine(QtCore.QPointF(_MARGIN, y - 12), QtCore.QPointF(_PAGE_W - _MARGIN, y - 12))
            painter.drawText(QtCore.QPointF(_MARGIN, y), left)
            text = f"page {i + 1} of {pages}"
            width = QtGui.QFontMetricsF(footer_font).horizontalAdvance(text)
            painter.drawText(QtCore.QPointF(_PAGE_W - _MARGIN - width, y), text)
            painter.restore()
    finally:
        painter.end()


def _swap_svg_images(QtGui: Any, doc: Any, data: ReportData, object_type: int, cls: Any) -> None:
    """Turn every ``<img src="fig:ID">`` of an SVG figure into the vector-drawing text object."""
    block = doc.begin()
    edits = []
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            fmt = frag.charFormat()
            if fmt.isImageFormat():
                name = fmt.toImageFormat().name()
                fid, _, piece = name[4:].partition("#") if name.startswith("fig:") else ("", "", "")
                fig = data.figures.get(fid) if fid else None
                if fig is not None and fig.kind == "svg" and piece.isdigit() and int(piece) < len(fig.pieces):
                    img = fmt.toImageFormat()
                    markup = fig.pieces[int(piece)][0]
                    edits.append((frag.position(), frag.length(), markup, img.width(), img.height()))
            it += 1
        block = block.next()
    for pos, length, markup, w, h in edits:
        cursor = QtGui.QTextCursor(doc)
        cursor.setPosition(pos)
        cursor.setPosition(pos + length, QtGui.QTextCursor.MoveMode.KeepAnchor)
        f = QtGui.QTextCharFormat()
        f.setObjectType(object_type)
        f.setProperty(cls.SVG_PROPERTY, markup.encode("utf-8"))
        f.setProperty(cls.WIDTH, float(w))
        f.setProperty(cls.HEIGHT, float(h))
        cursor.setCharFormat(f)
