"""The desktop front end (PySide6 + pyqtgraph). It holds no analysis logic: it runs core functions in workers
and draws their results. Import :func:`inspector.qt.app.run` to start it."""
