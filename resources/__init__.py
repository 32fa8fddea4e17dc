"""Bundled resources (demo zoo, baseline profiles, report templates, icons), shipped as ``inspector.resources``."""
