"""A batch killed mid-way (SIGKILL of the batch and its workers) loses nothing it wrote and resumes; a worker
killed mid-batch costs no result; a Dask LocalCluster of two workers gives the same results as the local pool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import inspector
from inspector.fleet import FleetOptions, discover, run_batch
from tests.fleet.conftest import write_clean

N = 40


@pytest.mark.slow  # a few seconds: a batch process started, killed, resumed
def test_killed_batch_keeps_its_results_and_resumes(tmp_path):
    root = tmp_path / "fleet"
    for i in range(N):
        write_clean(root / f"m{i:03d}.safetensors", i)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(inspector.__file__).parents[1])}
    cmd = [sys.executable, "-m", "inspector", "scan", str(root), "--out", str(out), "--jobs", "1", "-q"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read()!r}"
        os.killpg(proc.pid, signal.SIGKILL)  # the batch, its forkserver and its workers, mid-batch
    finally:
        proc.wait(timeout=30)
    written = [json.loads(x) for x in results.read_bytes().splitlines(keepends=True) if x.endswith(b"\n")]
    assert 3 <= len(written) < N, "kill it mid-batch"
    resumed = run_batch(discover([root]), FleetOptions(out=out, jobs=1))
    assert resumed.reused >= len(written) and resumed.scanned == N - resumed.reused
    assert len(results.read_text().splitlines()) == N
    assert {d["fleet"]["id"] for d in written} <= {d["fleet"]["id"] for d in resumed.docs if d["fleet"].get("cached")}


@pytest.mark.slow  # a few seconds: a LocalCluster starts a scheduler and two worker processes
def test_dask_local_cluster_of_two_workers_matches_the_local_pool(fleet, tmp_path):
    pytest.importorskip("distributed")
    units = discover([fleet])
    local = run_batch(units, FleetOptions(out=tmp_path / "local", jobs=1))
    dask = run_batch(units, FleetOptions(out=tmp_path / "dask", jobs=2, dask="local"))
    assert dask.backend == "dask local" and dask.scanned == len(units)
    assert dask.jobs == 2  # the cluster's workers, as the scheduler counts them

    def lines(out: Path) -> list[dict]:
        docs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
        return [{k: v for k, v in d.items() if k not in ("fleet", "seconds")} for d in docs]

    assert lines(tmp_path / "dask") == lines(tmp_path / "local")
    assert [d["fleet"]["id"] for d in dask.docs] == [d["fleet"]["id"] for d in local.docs]


@pytest.mark.slow  # a few seconds: the pool is started twice
def test_a_worker_killed_mid_batch_costs_no_result(tmp_path):
    root = tmp_path / "fleet"
    for i in range(12):
        write_clean(root / f"m{i:02d}.safetensors", i)
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_a_worker(files: int, total: int, nbytes: int, bytes_total: int) -> None:
        if killed:
            return
        last = json.loads((out / "results.jsonl").read_text().splitlines()[-1])
        killed.append(last["fleet"]["worker_pid"])
        assert killed[0] not in (os.getpid(), os.getppid())
        os.kill(killed[0], signal.SIGKILL)  # the pool breaks with every model in flight

    run = run_batch(discover([root]), FleetOptions(out=out, jobs=2), progress=kill_a_worker)
    assert killed and run.scanned == 12
    assert all(d["schema"] == "model-inspector/scan/1" for d in run.docs)  # the models in flight were retried
    assert killed[0] not in {d["fleet"]["worker_pid"] for d in run.docs[-4:]}


def test_a_pool_found_broken_when_submitting_is_restarted(monkeypatch):
    """A worker can die while results are being handed out, so that the next submit, not a result, finds the pool
    broken: the models in flight are run again one at a time, the one being submitted goes back to the queue,
    and every model gets its result (the race a killed worker exposed in CI)."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from inspector.fleet import executors

    pools: list = []

    class Pool:
        def __init__(self, breaks_at: int) -> None:
            self.breaks_at, self.submitted = breaks_at, 0

        def submit(self, fn, task):
            self.submitted += 1
            if self.submitted == self.breaks_at:
                raise BrokenProcessPool("a child process terminated abruptly")
            f: Future = Future()
            f.set_result(fn(task))
            return f

        def shutdown(self, **kwargs) -> None:
            pass

    def new_pool(self):
        pools.append(Pool(3 if not pools else 0))  # the first pool breaks on its third submit
        return pools[-1]

    monkeypatch.setattr(executors.LocalRunner, "_new_pool", new_pool)
    monkeypatch.setattr(executors, "inspect", lambda task: {"id": task})
    with executors.LocalRunner(2) as runner:
        got = [doc["id"] for _, doc in runner.run(iter(range(6)))]
    assert sorted(got) == list(range(6)) and len(pools) == 2
