"""Where the workers run: a local process pool (default) or a Dask distributed cluster.

Both take :class:`~inspector.fleet.work.Task` values and yield ``(task, result_document)`` as results arrive.
Only a bounded window of tasks is in flight at a time, so a fleet of a million paths costs no more memory in the
parent than a fleet of a hundred. No scheduling of our own beyond that window: the pool or Dask places the work.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterable, Iterator, Optional

from inspector.core.errors import InspectorError
from inspector.fleet.work import Task, error_doc, inspect

#: Memory a worker is planned for: a scan streams its chunks, so it stays near this whatever the model's size.
WORKER_MEMORY = 768 << 20
#: A pool process is replaced after this many models (returns whatever a long run fragmented).
TASKS_PER_CHILD = 200


def _available_memory() -> Optional[int]:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_jobs() -> int:
    """One worker per usable core, fewer when the available memory would not give each ``WORKER_MEMORY``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    mem = _available_memory()
    by_memory = max(1, mem // WORKER_MEMORY) if mem else cores
    return max(1, min(cores, by_memory))


class LocalRunner:
    """A ``ProcessPoolExecutor`` (forkserver: workers start from a clean, pre-imported parent)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self._pool: Optional[ProcessPoolExecutor] = None

    def _new_pool(self) -> ProcessPoolExecutor:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(["inspector.fleet.work"])
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, max_tasks_per_child=TASKS_PER_CHILD)

    def __enter__(self) -> LocalRunner:
        self._pool = self._new_pool()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Results as they complete. A worker that dies (killed, segfault) breaks the pool and every model in
        flight with it: a fresh pool then runs those models one at a time, so only the one that kills its worker
        again is reported (as a crash) and the others complete."""
        todo = deque(tasks)
        suspects: deque[Task] = deque()
        pending: dict[Future, Task] = {}
        window = self.jobs * 4
        while todo or pending or suspects:
            if suspects and not pending:
                task = suspects.popleft()
                try:
                    yield task, self._pool_().submit(inspect, task).result()
                except BrokenProcessPool:
                    self._restart()
                    yield task, error_doc(task, "crash", "the worker process died while inspecting it")
                continue
            while todo and not suspects and len(pending) < window:
                t = todo.popleft()
                try:
                    pending[self._pool_().submit(inspect, t)] = t
                except BrokenProcessPool:
                    # a worker died since the last wait (killed while results were handed out): the models in
                    # flight are suspects; this one never ran, and goes back to the queue
                    todo.appendleft(t)
                    suspects.extend(pending.values())
                    pending.clear()
                    self._restart()
                    break
            if not pending:
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                task = pending.pop(fut)
                try:
                    doc = fut.result()
                except BrokenProcessPool:
                    broken = True
                    suspects.append(task)
                    continue
                yield task, doc
            if broken:  # every other in-flight future failed with the pool
                suspects.extend(pending.values())
                pending.clear()
                self._restart()

    def _pool_(self) -> ProcessPoolExecutor:
        assert self._pool is not None, "use LocalRunner as a context manager"
        return self._pool

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()


#: A LocalCluster for many short tasks: Dask's statistical profiler would sample every worker thread every 10 ms.
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False}


class DaskRunner:
    """A Dask distributed client: ``"local"`` starts a ``LocalCluster`` of ``jobs`` single-threaded worker
    processes; anything else is a scheduler address (``tcp://host:8786``). Workers must have model-inspector
    installed and see the models at the same paths (shared storage)."""

    def __init__(self, address: str, jobs: int) -> None:
        self.address = address
        self.jobs = max(1, jobs)
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> DaskRunner:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise InspectorError(
                "--dask needs Dask distributed", hint="Install it: pip install 'model-inspector[fleet]'"
            ) from None
        try:
            if self.address == "local":
                with dask.config.set(LOCAL_CLUSTER_CONFIG):
                    self._cluster = LocalCluster(
                        n_workers=self.jobs,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",  # a free port: another cluster on this machine may hold 8787
                        silence_logs=logging.ERROR,
                    )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.address)  # waits distributed.comm.timeouts.connect (30 s)
        except (OSError, TimeoutError, ValueError) as e:
            self.__exit__()
            raise InspectorError(
                f"cannot reach the Dask scheduler {self.address} ({e})",
                hint="Check the address (tcp://host:8786), or use --dask local",
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    @property
    def workers(self) -> int:
        info = self._client.scheduler_info() if self._client is not None else {}
        return max(1, len(info.get("workers", {})))

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Results as they complete; a task Dask gives up on (its worker died twice) is reported as a crash."""
        from distributed import as_completed

        assert self._client is not None, "use DaskRunner as a context manager"
        todo = iter(tasks)
        owner: dict[str, Task] = {}
        window = self.workers * 8

        def submit() -> Optional[Any]:
            t = next(todo, None)
            if t is None:
                return None
            fut = self._client.submit(inspect, t, pure=False)
            owner[fut.key] = t
            return fut

        first = [f for f in (submit() for _ in range(window)) if f is not None]
        stream = as_completed(first)
        for fut in stream:
            task = owner.pop(fut.key)
            try:
                doc = fut.result()
            except Exception as e:  # KilledWorker, a lost connection: this model's result is the error
                doc = error_doc(task, "crash", f"the Dask worker failed ({type(e).__name__}: {e})")
            fut.release()
            yield task, doc
            nxt = submit()
            if nxt is not None:
                stream.add(nxt)
