"""Packages come from here, not pyproject.toml, for one reason: the top-level ``resources/`` folder (demo
models, profiles, report templates, icons) is shipped as the ``inspector.resources`` package, and that
mapping needs the package list computed, which pyproject's static tables cannot express."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["inspector", "inspector.*"]), "inspector.resources"],
    package_dir={"inspector.resources": "resources"},
)
