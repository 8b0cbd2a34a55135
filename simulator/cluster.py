"""Running simulation jobs on an existing Dask cluster (``snoopbench simulate --scheduler ADDR``).

Each job (a shard, or one day's merge) runs on whichever worker the scheduler picks, and writes its
files itself, under the paths it was given. So every worker must see the same filesystem paths as
the process that runs ``simulate``: one machine, or a shared filesystem (NFS and the like) mounted at
the same place everywhere, and the same snoopbench installed. Only small results (row counts,
episode rows, labels) travel back to the client. Seeds come from the scenario and the shard key, so
the dataset is the same as a local run's, byte for byte.

Jobs and results cross the network as plain pickles, as they cross to local worker processes: Dask's
own Arrow serialisation changes a table's chunk layout (an empty table comes back with no chunks),
and the dataset's content digests must not see a difference. So ``fn`` must be importable by name on
the workers (a module-level function), as for a local process pool.

Dask is imported here only, when a scheduler is asked for (``pip install 'snoopbench[cluster]'``).
"""

from __future__ import annotations

import concurrent.futures
import pickle
from typing import Any, Callable

from snoopbench.contract.errors import InputError

#: Seconds to wait for the scheduler to answer, and for at least one worker to join it.
CONNECT_TIMEOUT_S = 10.0
#: Seconds to wait for ``--workers N`` workers to join (batch jobs may sit in a queue first).
WORKERS_TIMEOUT_S = 600.0


def dask_map(scheduler: str, fn: Callable[[Any], Any], jobs: list, *, timeout: float | None = None,
             on_done: Callable[[int, list], None] | None = None) -> list:
    """Run ``fn(job)`` for every job on the cluster at ``scheduler``; results in submission order.

    ``on_done(n, results)`` is called each time the next result in order is in (n so far), for progress.

    An unreachable scheduler, or one without workers, is bad input (:class:`InputError`, exit 2).
    A job that fails on the cluster re-raises its own exception here, so the caller can clean up.
    """
    client = _connect(scheduler, timeout)
    try:
        futures = [client.submit(_call, pickle.dumps((fn, job), protocol=5), pure=False) for job in jobs]
        out: list = []
        try:
            for future in futures:
                out.append(pickle.loads(future.result()))
                if on_done is not None:
                    on_done(len(out), out)
            return out
        except BaseException:
            client.cancel(futures)  # stop the jobs still queued or running
            raise
    finally:
        client.close()


def _connect(scheduler: str, timeout: float | None):
    """A client of the scheduler at ``scheduler`` with at least one worker; else :class:`InputError`."""
    try:
        from distributed import Client
        from distributed.comm import get_address_host_port
    except ImportError:
        raise InputError("needs dask.distributed, which is not installed; "
                         "install it with: pip install 'snoopbench[cluster]'", key="--scheduler") from None
    wait_s = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        get_address_host_port(scheduler)  # a malformed address fails here, before any waiting
        client = Client(scheduler, timeout=wait_s, set_as_default=False)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}; "
                         "expected the address of a running scheduler, e.g. tcp://HOST:8786",
                         key="--scheduler") from None
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (OSError, TimeoutError):
        client.close()
        raise InputError(f"the Dask scheduler at {scheduler!r} has no workers (waited {wait_s:g} s)",
                         key="--scheduler") from None
    return client


class DaskPool:
    """Long jobs on a Dask cluster behind what a local process pool offers :class:`run._Pipelined`:
    ``submit`` gives a :class:`concurrent.futures.Future`. Jobs and results travel pickled (see the
    module docstring); ``threads`` is how many jobs the cluster runs at once."""

    def __init__(self, scheduler: str, workers: int = 1, timeout: float | None = None):
        """With ``workers`` > 1, wait (up to :data:`WORKERS_TIMEOUT_S`) until that many have joined."""
        self.client = _connect(scheduler, timeout)
        self._futures: list = []
        if workers > 1:
            try:
                self.client.wait_for_workers(workers, timeout=WORKERS_TIMEOUT_S if timeout is None else timeout)
            except (OSError, TimeoutError):
                have = len(self.client.scheduler_info().get("workers", {}))
                self.client.close()
                raise InputError(f"expected {workers} workers at the Dask scheduler {scheduler!r}, "
                                 f"{have} joined", key="--workers") from None

    @property
    def threads(self) -> int:
        return int(sum(self.client.nthreads().values()))

    def submit(self, fn: Callable[[Any], Any], job: Any) -> concurrent.futures.Future:
        out: concurrent.futures.Future = concurrent.futures.Future()
        future = self.client.submit(_call, pickle.dumps((fn, job), protocol=5), pure=False)
        self._futures.append(future)

        def settle(f) -> None:
            try:
                out.set_result(pickle.loads(f.result()))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which re-raises it
                if not out.done():
                    out.set_exception(exc)

        future.add_done_callback(settle)
        return out

    def shutdown(self, cancel: bool = False) -> None:
        """Close the client; with ``cancel``, first cancel the jobs (queued ones never start; a job
        already running finishes its current step, as Dask cannot stop a thread)."""
        try:
            if cancel:
                self.client.cancel(self._futures)
        finally:
            self.client.close()


def _call(blob: bytes) -> bytes:
    """On a worker: unpickle ``(fn, job)``, run it, pickle the result."""
    fn, job = pickle.loads(blob)
    return pickle.dumps(fn(job), protocol=5)
