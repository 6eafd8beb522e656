"""Large Bulk jobs written by processes of their own, so the emulator works as Salesforce does: on a
job's chunks, and on a run's jobs, in parallel.

A single ingest thread cannot (the GIL): a run of a million claims (three jobs of about 330,000
records) would wait for them one after another, the last alone on one core. A job whose upload is at
least ``CHILD_MIN_BYTES`` is therefore checked by the ingest thread, which notes where each stretch
of ``SPLIT_ROWS`` rows starts, and split into up to ``MAX_CHILDREN`` parts of whole stretches; each
part is written by ``python -m local.salesforce_emulator.bulk_process``, a child that opens the same
SQLite database (WAL; its batch transactions and the other writers take the database's write lock
in turn) and runs the very ``Plan.run`` the ingest thread runs on a small job. At most
``MAX_CHILDREN`` run at once; the next part waits for a slot, in queue order. The last part to end
finishes the job: its results files are the parts' joined in upload order (``assemble_results``).

Everything a child needs is in the database and the job's directory, except the schema and the
upload's repeated external ids, which it receives pickled on standard input (metadata deployed at
run time included). Job state and counts move by read-modify-write inside a database transaction
(``BulkJobs._update``, ``BulkJobs._count``), so an abort from the API and the parts' progress never
overwrite each other. A job with row-level faults standing (``lock_row``) stays on the ingest
thread: the faults live in the parent's memory.

Children are started ahead of their work: when a job is created (its upload comes next), the emulator
starts idle children up to ``MAX_CHILDREN``, which import the emulator's modules and then wait for a
part on standard input. A part then starts on a warm child instead of paying the interpreter's start
and imports (about a second on this machine) between the job's close and its first row.

A child that dies fails its job as a crash of the ingest thread does; one killed by ``stop`` leaves
its job ``InProgress``, and the next start runs it again. A child whose emulator is killed ends itself
(it is given the emulator's pid and watches for being orphaned).
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.salesforce_emulator.bulk_rows import Part

log = logging.getLogger(__name__)

CHILD_MIN_BYTES = 1 << 20  # about 4,000 claims: below this, starting a process costs more than it gives
MAX_CHILDREN = 2  # this machine's cores; more writers would queue for SQLite's write lock
SPLIT_ROWS = 10_000  # Salesforce's chunk: a job splits into parts of whole chunks (tests split finer)
_ROOT = Path(__file__).resolve().parents[2]  # the repository: what ``-m local...`` imports from


class JobProcesses:
    """The running children: a slot each, and a watcher thread that reports how each one ended."""

    def __init__(self, on_end: Callable[[str, float, bool], None]) -> None:
        self._on_end = on_end  # (job id, started, the part was written): a child ended
        self._slots = threading.BoundedSemaphore(MAX_CHILDREN)
        self._lock = threading.Lock()
        self._running: dict[tuple[str, int], subprocess.Popen[bytes]] = {}  # (job id, part) -> child
        self._watchers: list[threading.Thread] = []
        self._spares: list[subprocess.Popen[bytes]] = []  # started ahead, waiting for a part
        self._stopping = False

    def prepare(self) -> None:
        """Start idle children up to ``MAX_CHILDREN`` (a job was created: its parts may come soon)."""
        with self._lock:
            if self._stopping:
                return
            self._spares = [proc for proc in self._spares if proc.poll() is None]
            for _ in range(MAX_CHILDREN - len(self._spares)):
                self._spares.append(self._spawn())

    @staticmethod
    def _spawn() -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        )
        return subprocess.Popen(  # this interpreter, a module of this package
            [sys.executable, "-m", "local.salesforce_emulator.bulk_process", str(os.getpid())],
            stdin=subprocess.PIPE,
            env=env,
        )

    def _take(self) -> subprocess.Popen[bytes]:
        """A warm child if one is waiting, else a new one."""
        with self._lock:
            while self._spares:
                proc = self._spares.pop(0)
                if proc.poll() is None:
                    return proc
        return self._spawn()

    def start(self, job_id: str, part: Part, work: dict[str, Any], started: float) -> bool:
        """Write one part of a job in a child; waits for a free slot, returns once the child has its
        work (False: the emulator is stopping, nothing was started)."""
        self._slots.acquire()
        try:
            with self._lock:
                if self._stopping:
                    self._slots.release()
                    return False
            proc = self._take()
            assert proc.stdin is not None
            with proc.stdin:
                pickle.dump({**work, "job_id": job_id, "part": part}, proc.stdin)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._running[(job_id, part.index)] = proc
            watcher = threading.Thread(target=self._watch, args=(job_id, part, proc, started), daemon=True)
            self._watchers = [w for w in self._watchers if w.is_alive()] + [watcher]
        watcher.start()
        return True

    def _watch(self, job_id: str, part: Part, proc: subprocess.Popen[bytes], started: float) -> None:
        try:
            code = proc.wait()
        finally:
            with self._lock:
                self._running.pop((job_id, part.index), None)
                stopping = self._stopping
            self._slots.release()
        if stopping:
            return  # the job stays InProgress, to run again on the next start
        if code != 0:
            log.error("bulk job %s: the process of part %s ended with exit code %s", job_id, part.index, code)
        self._on_end(job_id, started, code == 0)

    def stop(self) -> None:
        """Kill the running children (their jobs stay InProgress, to run again on the next start)."""
        with self._lock:
            self._stopping = True
            running, watchers = list(self._running.values()), list(self._watchers)
            spares, self._spares = self._spares, []
        for proc in running + spares:
            proc.kill()
        for proc in spares:
            proc.wait(timeout=10)
        for watcher in watchers:
            watcher.join(timeout=10)


def _exit_with_parent(parent_pid: int) -> None:
    """End this process if the emulator's is gone (killed, not stopped): its job is run again on the
    emulator's next start, and nothing is left writing into a state directory nobody serves. The pid
    comes from the parent, as the process may have been orphaned before this runs."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    """The child: import what a part needs, wait for the part described on standard input (EOF: none
    came, the emulator is stopping), write it, then exit. ``argv``: the emulator's pid."""
    _exit_with_parent(int(argv[0]) if argv else os.getppid())
    from local.salesforce_emulator.bulk import BulkJobs
    from local.salesforce_emulator.faults import Faults
    from local.salesforce_emulator.records import Records
    from local.salesforce_emulator.store import Store

    logging.basicConfig(level=logging.WARNING, format="bulk-ingest %(levelname)s %(message)s")
    try:
        work = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by the parent emulator, on a pipe
    except EOFError:
        return 0  # a spare that was never given a part
    schema = work["schema"]
    store = Store(Path(work["db_path"]), schema, create_tables=False)
    try:
        jobs = BulkJobs(
            store, schema, Records(store, schema), Faults(), Path(work["jobs_dir"]), work["user_id"]
        )
        jobs.ingest_part(work["job_id"], work["part"], work["duplicates"])
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
