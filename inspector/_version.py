"""The one version source: the package metadata (pyproject), ``--version``, the app's title and about box, and
every written document (scan/1, exports, reports) read it from here."""

__version__ = "0.1.0"
