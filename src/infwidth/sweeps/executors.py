"""Where points run: in this process (default), in local worker processes, or on Ray.

Every executor takes ``(key, target, config)`` tasks and yields ``(key, record)`` as points finish, in
any order; the runner writes each record the moment it arrives. A record is what
:func:`infwidth.sweeps.units.execute` returns (a unit that raises is already a "failed" record); a
worker that dies is retried (``max_retries``) and then recorded as failed, so the sweep goes on.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from typing import Any

from infwidth.errors import UserError, check_int
from infwidth.sweeps.units import execute

Task = tuple[str, str, dict[str, Any]]
EXECUTORS = ("local", "processes", "ray")


class Executor:
    """Runs tasks and yields ``(key, record)`` as each finishes."""

    name = "base"

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[str, dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (and a Ray instance this executor started)."""


class LocalExecutor(Executor):
    """One point after another in this process: no start-up cost, what the tests use first."""

    name = "local"

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[str, dict[str, Any]]]:
        for key, target, config in tasks:
            yield key, execute(target, config)


class ProcessExecutor(Executor):
    """``workers`` local processes (``spawn``: safe with torch and threads); a dead worker's points are retried."""

    name = "processes"

    def __init__(self, workers: int = 2, max_retries: int = 1) -> None:
        self.workers = check_int(workers, "workers")
        self.max_retries = check_int(max_retries, "max_retries", minimum=0)
        self._pool: Any = None

    def _new_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[str, dict[str, Any]]]:
        """When a worker dies every in-flight point of the pool fails with it, so those points are rerun
        one at a time: the one that kills its worker alone is retried ``max_retries`` times, then recorded."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = list(tasks)
        queue.reverse()
        suspects: list[Task] = []
        tries: dict[str, int] = {}
        self._pool = self._pool or self._new_pool()
        running: dict[Any, Task] = {}
        alone = False
        while queue or suspects or running:
            try:
                alone = bool(suspects)
                pending = suspects if alone else queue
                while pending and len(running) < (1 if alone else 2 * self.workers):  # bounded in flight
                    task = pending.pop()
                    try:
                        running[self._pool.submit(execute, task[1], task[2])] = task
                    except BrokenProcessPool:
                        pending.append(task)
                        raise
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task = running[future]
                    record = future.result()  # raises BrokenProcessPool if the worker died
                    del running[future]
                    yield task[0], record
            except BrokenProcessPool:
                lost = list(running.values())
                running.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                if alone and len(lost) == 1:
                    key = lost[0][0]
                    tries[key] = tries.get(key, 0) + 1
                    if tries[key] > self.max_retries:
                        yield key, {"status": "failed", "error": "worker process died (killed or out of memory)", "seconds": None}
                    else:
                        suspects.append(lost[0])
                else:
                    suspects.extend(lost)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """One-line error when ``host:port`` does not accept connections (before Ray's long connect timeout)."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"cannot read Ray address {address!r}; write HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UserError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start a Ray head node there (ray start) or drop `address`") from None


def _ray_execute(target: str, config: dict[str, Any]) -> dict[str, Any]:
    return execute(target, config)


class RayExecutor(Executor):
    """Points as Ray tasks: Ray schedules them (one CPU each by default) and retries a task whose worker dies.

    ``address=None`` starts a local Ray instance (``num_cpus=workers``) once for the whole sweep and
    shuts it down in :meth:`close`; an address attaches to a running cluster and leaves it running.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, max_retries: int = 2,
                 num_cpus_per_point: float = 1.0, num_gpus_per_point: float = 0.0) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("the ray executor needs Ray; pip install 'infwidth[ray]'") from None
        self.ray = ray
        self.max_retries = check_int(max_retries, "max_retries", minimum=0)
        self.resources = {"num_cpus": num_cpus_per_point, "num_gpus": num_gpus_per_point}
        self.started = False
        if not ray.is_initialized():
            if address not in (None, "auto", "local"):
                _check_reachable(address)
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
            if address is None or address == "local":
                if workers is not None:
                    kwargs["num_cpus"] = check_int(workers, "workers")
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise UserError(f"cannot connect to Ray at {address}: {str(exc).splitlines()[0]}; check `address` or drop it") from None
            self.started = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(max_retries=self.max_retries, **self.resources)(_ray_execute)

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[str, dict[str, Any]]]:
        ray = self.ray
        queue = list(tasks)
        queue.reverse()
        running: dict[Any, str] = {}
        while queue or running:
            while queue and len(running) < 2 * max(self.workers, 1):
                key, target, config = queue.pop()
                running[self._remote.remote(target, config)] = key
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                key = running.pop(ref)
                try:
                    yield key, ray.get(ref)
                except ray.exceptions.RayError as exc:  # worker died more than max_retries times
                    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield key, {"status": "failed", "error": f"{type(exc).__name__}: {message}", "seconds": None}

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
            self.started = False


def make_executor(name: str = "local", workers: int | None = None, address: str | None = None,
                  gpus_per_point: float = 0.0) -> Executor:
    """An executor by name: ``local`` (sequential, in process), ``processes`` or ``ray``.

    ``gpus_per_point`` (Ray only): the GPUs Ray reserves for each point (e.g. 1, or 0.25 to pack four
    small runs on one GPU); units whose config says ``device="auto"`` then find CUDA.
    """
    if name == "local":
        return LocalExecutor()
    if name == "processes":
        return ProcessExecutor(workers=2 if workers is None else workers)
    if name == "ray":
        return RayExecutor(workers=workers, address=address, num_gpus_per_point=gpus_per_point)
    raise UserError(f"unknown executor {name!r}; choose {', '.join(EXECUTORS)}")
