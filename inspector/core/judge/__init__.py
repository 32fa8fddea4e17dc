"""Judging: baselines, detectors, findings and the verdict, computed from measurements."""
