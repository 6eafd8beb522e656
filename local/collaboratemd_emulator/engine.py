"""The emulator's state and rules, without HTTP: rows, report requests, configuration, faults, counters.

``server.py`` turns HTTP requests into calls on ``ReportEngine`` and renders the ``Reply`` it returns;
``admin.py`` drives the same object. Everything here is thread-safe (one lock; slow work such as
building a ZIP or writing the rows file happens outside it).

Report lifecycle (one customer, one report id, one filter id — those of the credentials):

- ``start_report`` snapshots the current rows and the configuration (running polls, members, JSON
  shape, maximum running time) into a new request, unless another report of the customer is still
  running (``REPORT RUNNING`` with an empty identifier). The ZIP of the rows (``ReportFile``) is built
  when they change, and shared by every report started on them.
- ``fetch_results`` answers ``REPORT RUNNING`` for the configured number of polls, then ``SUCCESS``
  with the Base64 ZIP. Once a request reached ``SUCCESS``, ``ERROR`` or ``REPORT TIMED OUT`` it is
  final (asking again repeats the answer) and the customer may start the next report. A request older
  than the maximum running time becomes ``REPORT TIMED OUT`` at its next poll or at the next start.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import os
import secrets
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from local.faults import Fault, FaultQueue

from .generator import COLUMNS, mutate_rows

SUCCESS = "SUCCESS"
ERROR = "ERROR"
NOT_FOUND = "NOT FOUND"
INVALID_CRITERIA = "INVALID CRITERIA"
REPORT_RUNNING = "REPORT RUNNING"
REPORT_TIMED_OUT = "REPORT TIMED OUT"
FINAL_STATUSES = frozenset({SUCCESS, ERROR, REPORT_TIMED_OUT})

Call = Literal["run", "results"]
# Every counter /__admin/calls reports, present even when zero.
CALL_KINDS: tuple[str, ...] = (
    "run",
    "results",
    "unauthorized",
    "forbidden",
    "unsupported_media_type",
    "not_found",
    "method_not_allowed",
    "injected_http_status",
    "injected_delay",
)

_KEEP_FINISHED = 50  # finished requests kept for repeated fetches; older ones are forgotten


class EngineInputError(ValueError):
    """Invalid input to the engine (admin calls); the message is safe to return to the caller."""


@dataclass
class EmulatorConfig:
    running_polls: int = 2
    members: tuple[str, ...] = ("json",)  # "json" -> report.json, "csv" -> report.csv
    json_shape: Literal["list", "object"] = "list"  # report.json holds [rows] or {"data": [rows]}
    casing: Literal["Pascal", "lower"] = "Pascal"  # Status/StatusMessage or status/statusMessage
    max_running_s: float = 900.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"] = list(self.members)
        return data

    def updated(self, changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` (a JSON object) applied; raises ``EngineInputError`` when invalid."""
        if not isinstance(changes, dict):
            raise EngineInputError("config must be a JSON object")
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            raise EngineInputError(f"unknown config key(s): {', '.join(unknown)}")
        new = EmulatorConfig(**asdict(self))
        if "running_polls" in changes:
            new.running_polls = _non_negative_int(changes["running_polls"], "running_polls")
        if "members" in changes:
            members = changes["members"]
            if (
                not isinstance(members, list)
                or not members
                or any(m not in ("json", "csv") for m in members)
                or len(set(members)) != len(members)
            ):
                raise EngineInputError('members must be a non-empty list of "json" and/or "csv"')
            new.members = tuple(members)
        if "json_shape" in changes:
            if changes["json_shape"] not in ("list", "object"):
                raise EngineInputError('json_shape must be "list" or "object"')
            new.json_shape = changes["json_shape"]
        if "casing" in changes:
            if changes["casing"] not in ("Pascal", "lower"):
                raise EngineInputError('casing must be "Pascal" or "lower"')
            new.casing = changes["casing"]
        if "max_running_s" in changes:
            new.max_running_s = _non_negative_number(changes["max_running_s"], "max_running_s")
        return new


@dataclass
class Reply:
    """What a report call answers. ``identifier`` None: the field is absent; ``data`` only on SUCCESS."""

    status: str
    message: str
    identifier: str | None = None
    data: str | None = None


@dataclass
class ReportFile:
    """The ZIP of one version of the rows in one member layout, built once and shared by every report
    started on them. The engine builds it when the rows change (an admin call that changes them
    returns once it is built), so how long a report runs is its configured polls, as documented,
    and not how fast the emulator encodes (ten seconds at a million claims on these machines)."""

    rows: Sequence[dict[str, str]]
    config: EmulatorConfig
    lock: threading.Lock = field(default_factory=threading.Lock)
    zip_bytes: bytes | None = None

    def matches(self, rows: Sequence[dict[str, str]], config: EmulatorConfig) -> bool:
        return self.rows is rows and (self.config.members, self.config.json_shape) == (
            config.members,
            config.json_shape,
        )

    def get(self) -> bytes:
        with self.lock:
            if self.zip_bytes is None:
                self.zip_bytes = build_zip(self.rows, self.config)
            return self.zip_bytes


@dataclass
class ReportRequest:
    request_id: str
    customer: str
    rows: Sequence[dict[str, str]]
    config: EmulatorConfig
    started: float
    file: ReportFile
    polls: int = 0
    status: str = REPORT_RUNNING

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def report_zip(self) -> bytes:
        """The report's ZIP: built when the rows changed, else from the moment the report starts, on
        a thread of its own (CollaborateMD builds a report while it answers REPORT RUNNING), or by
        the first fetch."""
        return self.file.get()


_MESSAGES = {
    ("run", SUCCESS): "The report request was accepted.",
    ("run", ERROR): "An error occurred while starting the report.",
    ("run", NOT_FOUND): "The report was not found or cannot be run through the API.",
    ("run", INVALID_CRITERIA): "The filter was not found for this report.",
    ("run", REPORT_RUNNING): "A report is already running for this customer. Try again later.",
    ("results", SUCCESS): "The report completed.",
    ("results", ERROR): "An error occurred while running the report.",
    ("results", NOT_FOUND): "No report request with this identifier.",
    ("results", REPORT_RUNNING): "The report is still running.",
    ("results", REPORT_TIMED_OUT): "The report did not complete within the allowed time.",
}


class ReportEngine:
    def __init__(
        self,
        *,
        customer: str,
        report_id: str,
        filter_id: str,
        rows: Sequence[dict[str, str]],
        config: EmulatorConfig,
        rows_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.customer = customer
        self.report_id = report_id
        self.filter_id = filter_id
        self._rows: list[dict[str, str]] = list(rows)
        self._config = config
        self._rows_file = rows_file
        self._clock = clock
        self._lock = threading.Lock()
        self._persist_lock = threading.Lock()
        self._requests: dict[str, ReportRequest] = {}
        self._running: dict[str, str] = {}  # customer -> request id
        self._faults = FaultQueue()
        self._calls: Counter[str] = Counter()
        self._statuses: dict[str, Counter[str]] = {"run": Counter(), "results": Counter()}
        self._next_request = 100_000 + secrets.randbelow(800_000)
        self._file: ReportFile | None = None  # the current rows' ZIP (see ReportFile)

    # --- rows ------------------------------------------------------------------------------------

    def rows(self) -> list[dict[str, str]]:
        with self._lock:
            return self._rows

    def replace_rows(self, rows: Sequence[dict[str, str]]) -> int:
        with self._lock:
            self._rows = list(rows)
            count = len(self._rows)
        self._rows_changed()
        return count

    def _file_locked(self) -> ReportFile:
        """The ZIP of the current rows and member layout (the same object while neither changes)."""
        if self._file is None or not self._file.matches(self._rows, self._config):
            self._file = ReportFile(self._rows, self._config)
        return self._file

    def _rows_changed(self) -> None:
        """After every change of the rows: write them to the rows file and build their ZIP."""
        self.persist()
        with self._lock:
            file = self._file_locked()
        file.get()

    def mutate(self, share: float, seed: int) -> list[str]:
        with self._lock:
            try:
                new_rows, changed = mutate_rows(self._rows, share, seed)
            except ValueError as exc:
                raise EngineInputError(str(exc)) from None
            self._rows = new_rows
        self._rows_changed()
        return changed

    def patch_rows(
        self,
        updates: Sequence[tuple[str, dict[str, str]]],
        delete: Sequence[str],
        append: Sequence[dict[str, str]],
    ) -> dict[str, int]:
        """Apply updates (to every row with that ClaimID), then deletes, then appends; all or nothing."""
        with self._lock:
            present = {row.get("ClaimID", "") for row in self._rows}
            for index, (claim_id, _) in enumerate(updates):
                if claim_id not in present:
                    raise EngineInputError(f"updates[{index}]: no row has this ClaimID")
            for index, claim_id in enumerate(delete):
                if claim_id not in present:
                    raise EngineInputError(f"delete[{index}]: no row has this ClaimID")
            changes: dict[str, dict[str, str]] = {}
            for claim_id, values in updates:
                changes.setdefault(claim_id, {}).update(values)
            removed = set(delete)
            new_rows: list[dict[str, str]] = []
            updated = deleted = 0
            for row in self._rows:
                claim_id = row.get("ClaimID", "")
                if claim_id in removed:
                    deleted += 1
                    continue
                if claim_id in changes:
                    row = {**row, **changes[claim_id]}
                    updated += 1
                new_rows.append(row)
            new_rows.extend(append)
            self._rows = new_rows
            result = {"updated": updated, "deleted": deleted, "appended": len(append), "count": len(new_rows)}
        self._rows_changed()
        return result

    def persist(self) -> None:
        """Write the current rows to the rows file (atomically), so a restart serves the same report."""
        if self._rows_file is None:
            return
        with self._persist_lock:
            rows = self.rows()
            tmp = self._rows_file.with_name(f".{self._rows_file.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:  # the bytes of json.dump(rows, separators=(",", ":")), 5x faster
                fh.writelines(_json_array(rows))
            tmp.chmod(0o600)
            os.replace(tmp, self._rows_file)

    # --- configuration, faults, counters ---------------------------------------------------------

    def config(self) -> EmulatorConfig:
        with self._lock:
            return self._config

    def update_config(self, changes: Any) -> EmulatorConfig:
        with self._lock:
            self._config = self._config.updated(changes)
            return self._config

    def add_faults(self, faults: Sequence[Fault]) -> None:
        """Queue parsed fault declarations (``faults.CATALOG``) behind those already queued."""
        self._faults.add(faults)

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.describe()

    def clear_faults(self) -> None:
        self._faults.clear()

    def take_fault(self, kind: str, call: Call) -> Fault | None:
        return self._faults.take(kind, call)

    def count(self, kind: str) -> None:
        with self._lock:
            self._calls[kind] += 1

    def calls(self) -> dict[str, Any]:
        with self._lock:
            counts: dict[str, Any] = {kind: self._calls[kind] for kind in CALL_KINDS}
            counts["statuses"] = {call: dict(c) for call, c in self._statuses.items()}
            return counts

    def reset(self) -> None:
        """Forget calls, faults and every report request (running or finished). Rows and config stay."""
        with self._lock:
            self._calls.clear()
            for counter in self._statuses.values():
                counter.clear()
            self._faults.clear()
            self._requests.clear()
            self._running.clear()

    def set_remaining_polls(self, polls: int) -> list[str]:
        """Every running report answers REPORT RUNNING ``polls`` more times, then finishes: how long a
        report left running keeps running is CollaborateMD's business, not its poller's."""
        polls = _non_negative_int(polls, "polls")
        with self._lock:
            changed = []
            for request in self._requests.values():
                if not request.final:
                    request.config = dataclasses.replace(request.config, running_polls=request.polls + polls)
                    changed.append(request.request_id)
            return changed

    def overview(self) -> dict[str, Any]:
        with self._lock:
            return {
                "customer": self.customer,
                "report_id": self.report_id,
                "filter_id": self.filter_id,
                "rows": len(self._rows),
                "config": self._config.to_json(),
                "faults": self._faults.describe(),
                "running": sorted(self._running.values()),
            }

    # --- the two report calls --------------------------------------------------------------------

    def start_report(self, customer: str, report_id: str, filter_id: str) -> Reply:
        with self._lock:
            status, identifier = self._start_locked(customer, report_id, filter_id)
            self._statuses["run"][status] += 1
            request = self._requests.get(identifier) if status == SUCCESS else None
        if request is not None:
            threading.Thread(target=request.report_zip, name=f"report-{identifier}", daemon=True).start()
        return Reply(status, _MESSAGES["run", status], identifier)

    def _start_locked(self, customer: str, report_id: str, filter_id: str) -> tuple[str, str]:
        if report_id != self.report_id:
            return NOT_FOUND, ""
        if filter_id != self.filter_id:
            return INVALID_CRITERIA, ""
        running_id = self._running.get(customer)
        running = self._requests.get(running_id) if running_id is not None else None
        if running is not None:
            self._expire_locked(running)
            if not running.final:
                return REPORT_RUNNING, ""
        self._running.pop(customer, None)
        fault = self._faults.take("start_status", "run")
        if fault is not None:
            return str(fault["status"]), ""
        request_id = str(self._next_request)
        self._next_request += 1
        self._requests[request_id] = ReportRequest(
            request_id=request_id,
            customer=customer,
            rows=self._rows,  # never mutated in place: every change installs a new list
            config=self._config,
            started=self._clock(),
            file=self._file_locked(),
        )
        self._running[customer] = request_id
        self._forget_old_locked()
        return SUCCESS, request_id

    def fetch_results(self, customer: str, request_id: str) -> Reply:
        corrupt = malformed = False
        with self._lock:
            request = self._requests.get(request_id)
            if request is None or request.customer != customer:
                status = NOT_FOUND
            else:
                if not request.final:
                    self._advance_locked(request)
                status = request.status
                if status == SUCCESS:
                    corrupt = self._faults.take("corrupt_zip", "results") is not None
                    malformed = not corrupt and self._faults.take("malformed_member", "results") is not None
            self._statuses["results"][status] += 1
        reply = Reply(status, _MESSAGES["results", status])
        if status == SUCCESS and request is not None:
            reply.data = base64.b64encode(
                self._payload(request, corrupt=corrupt, malformed=malformed)
            ).decode()
        return reply

    def _advance_locked(self, request: ReportRequest) -> None:
        """One poll of a running request: time out, fail by fault, keep running, or succeed."""
        self._expire_locked(request)
        if request.final:
            return
        fault = self._faults.take("results_status", "results")
        if fault is not None:
            request.status = str(fault["status"])
        elif request.polls < request.config.running_polls:
            request.polls += 1
        else:
            request.status = SUCCESS
        self._release_if_final_locked(request)

    def _expire_locked(self, request: ReportRequest) -> None:
        if not request.final and self._clock() - request.started >= request.config.max_running_s:
            request.status = REPORT_TIMED_OUT
        self._release_if_final_locked(request)

    def _release_if_final_locked(self, request: ReportRequest) -> None:
        """A request with a final status no longer blocks its customer from starting another report."""
        if request.final and self._running.get(request.customer) == request.request_id:
            del self._running[request.customer]

    def _forget_old_locked(self) -> None:
        finished = [rid for rid, req in self._requests.items() if req.final]
        for rid in finished[:-_KEEP_FINISHED]:
            del self._requests[rid]

    # --- payloads --------------------------------------------------------------------------------

    def _payload(self, request: ReportRequest, *, corrupt: bool, malformed: bool) -> bytes:
        if malformed:
            return build_zip(request.rows, request.config, malformed=True)
        good = request.report_zip()
        if corrupt:
            # A truncated download: starts like a ZIP, but the central directory is missing.
            return good[: max(4, len(good) // 2)]
        return good


def build_zip(rows: Sequence[dict[str, str]], config: EmulatorConfig, *, malformed: bool = False) -> bytes:
    """The report ZIP: ``report.json`` and/or ``report.csv`` holding ``rows``.

    A member is written in slices of rows, never encoded whole: the report is built on a thread
    while the emulator answers polls, and one ``json.dumps`` of a million rows would hold the
    interpreter (and every poll) for seconds. ``malformed=True`` makes every member unparseable: the
    JSON is cut off part-way, the CSV ends in an unterminated quoted field with bytes that are not
    UTF-8.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member in config.members:
            name = f"report.{member}"
            if malformed:
                archive.writestr(name, _malformed_member(rows, config, member))
                continue
            with archive.open(name, "w", force_zip64=len(rows) > _ZIP64_ROWS) as out:
                chunks = _json_chunks(rows, config) if member == "json" else _csv_chunks(rows)
                for chunk in chunks:
                    out.write(chunk)
    return buffer.getvalue()


_SLICE = 2_000  # rows encoded at a time
_ZIP64_ROWS = 2_000_000  # past this a member may pass 4 GiB: ZIP64 sizes from the start


def _json_chunks(rows: Sequence[dict[str, str]], config: EmulatorConfig) -> Iterator[bytes]:
    # ASCII with escapes: a lone surrogate (half an emoji) travels as "\ud83d", as JSON writers of
    # UTF-16 systems send it, instead of failing the encoding.
    if config.json_shape == "object":
        yield b'{"data":'
        yield from _json_array(rows)
        yield b"}"
    else:
        yield from _json_array(rows)


def _json_array(rows: Sequence[dict[str, str]]) -> Iterator[bytes]:
    """``json.dumps(rows, separators=(",", ":"))`` encoded, a slice of rows at a time."""
    yield b"["
    for start in range(0, len(rows), _SLICE):
        text = json.dumps(list(rows[start : start + _SLICE]), separators=(",", ":"))
        yield ("," if start else "").encode("ascii") + text[1:-1].encode("ascii")
    yield b"]"


def _csv_chunks(rows: Sequence[dict[str, str]]) -> Iterator[bytes]:
    # surrogatepass: a lone surrogate is written as its (invalid) UTF-8 bytes, as systems that
    # encode UTF-16 code units one by one do; the reader must survive it.
    columns = _csv_columns(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="")
    writer.writeheader()
    for start in range(0, max(len(rows), 1), _SLICE):
        writer.writerows(rows[start : start + _SLICE])
        yield out.getvalue().encode("utf-8", "surrogatepass")
        out.seek(0)
        out.truncate()


def _malformed_member(rows: Sequence[dict[str, str]], config: EmulatorConfig, member: str) -> bytes:
    content = b"".join(_json_chunks(rows, config) if member == "json" else _csv_chunks(rows))
    if member == "json":
        return content[: max(1, len(content) * 2 // 3)]
    # a ragged row, bytes that are not UTF-8, an unterminated quoted field
    return content + b'1,2,3\r\n"40000001,\xff\xfe unterminated'


def _csv_columns(rows: Sequence[dict[str, str]]) -> list[str]:
    columns: dict[str, None] = {} if rows else dict.fromkeys(COLUMNS)  # an empty report keeps its header
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    return list(columns)


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EngineInputError(f"{name} must be a non-negative integer")
    return value


def _non_negative_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise EngineInputError(f"{name} must be a non-negative number")
    return float(value)
