"""Every red-team case, each in its own limited child process (see :mod:`tests.redteam.cases`).

Shared invariants: the child exits normally (no signal) with one of the case's statuses, prints no traceback and
no raw terminal escape, says what is wrong on exactly one stderr line when it refuses (exit 2), stays well under
1 GB and ends within seconds; then the case's own check runs (JSON written, marker absent, tensors judged...).
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.redteam.cases import CASES, SLOW, Case
from tests.redteam.harness import RSS_LIMIT_MB, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")

#: Wall-clock bound of one case, process start and imports included (about 1.5 s here), on a loaded 2-core box.
WALL_LIMIT = 20.0


def _problems(case: Case, run) -> list[str]:
    out = []
    if run.rc < 0:
        out.append(f"killed by signal {-run.rc}")
    elif run.rc not in case.exits:
        out.append(f"exit {run.rc}, expected one of {case.exits}")
    if "Traceback" in run.stderr or "Traceback" in run.stdout:
        out.append("a traceback was printed")
    if "\x1b" in run.stderr or "\x1b" in run.stdout or "\x00" in run.stderr:
        out.append("a raw escape or NUL reached the terminal")
    if run.rc == 2 and len(run.stderr_lines) != 1:
        out.append(f"{len(run.stderr_lines)} stderr lines, not one")
    if run.peak_mb > RSS_LIMIT_MB:
        out.append(f"peak RSS {run.peak_mb:.0f} MB")
    if run.seconds > WALL_LIMIT:
        out.append(f"took {run.seconds:.1f} s")
    if not out and case.check is not None:
        problem = case.check(run)
        if problem:
            out.append(problem)
    return out


def run_case(name: str, folder) -> tuple[Case, object]:
    builders = {**CASES, **SLOW}
    case = builders[name](folder)
    run = run_cli(case.args, timeout=60, shell_pipe=case.pipe, cwd=folder)
    return case, run


@pytest.mark.parametrize("name", sorted(CASES))
def test_red_team_case(name: str, tmp_path) -> None:
    case, run = run_case(name, tmp_path)
    problems = _problems(case, run)
    assert not problems, f"{name}: {run.describe()}: {problems}; stderr: {run.stderr[-500:]!r}"


@pytest.mark.skipif(not os.environ.get("REDTEAM_SLOW"), reason="builds a 55 MB header; set REDTEAM_SLOW=1")
@pytest.mark.parametrize("name", sorted(SLOW))
def test_slow_red_team_case(name: str, tmp_path) -> None:
    case, run = run_case(name, tmp_path)
    problems = _problems(case, run)
    assert not problems, f"{name}: {run.describe()}: {problems}; stderr: {run.stderr[-500:]!r}"
