# ruff: noqa: S608 - identifiers come from the schema (quoted); every value is a bound parameter
"""SQLite storage for the emulator: one table per object, plus tokens, Bulk jobs and the daily counter.

One connection guarded by a lock serves every thread (the emulator is a test double: simple and
correct beats concurrent). The database lives in ``state_dir/salesforce.sqlite3`` in WAL mode, so
records, tokens, jobs and the day's API usage survive a restart with the same state directory.
Tables are created from the schema and gain columns when the metadata gains fields.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.salesforce_emulator import fields as F
from local.salesforce_emulator import ids
from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema

_SQL_TYPE = {
    "boolean": "INTEGER",
    "int": "INTEGER",
    "double": "REAL",
    "currency": "REAL",
    "percent": "REAL",
}
_UNIQUE_FAILED = re.compile(r"UNIQUE constraint failed: [^.]+\.(\w+)")
BUSY_TIMEOUT_S = 60.0  # a Bulk batch holds the write lock for well under a second
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")


def table_name(obj: ObjectDef) -> str:
    return f"sobj_{obj.name.lower()}"


def q(name: str) -> str:
    return f'"{name}"'


class Store:
    def __init__(self, path: Path, schema: Schema, *, create_tables: bool = True) -> None:
        """``create_tables=False``: a second connection to a database the emulator made (a Bulk ingest
        process, ``bulk_process.py``); the two take SQLite's write lock in turn, waiting up to
        ``BUSY_TIMEOUT_S`` for it."""
        self.path = path
        self.schema = schema
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._columns: dict[str, list[FieldDef]] = {
            obj.name: list(obj.fields.values()) for obj in schema.objects.values()
        }
        self._depth = 0
        self._writer_fd = os.open(f"{path}.writer", os.O_RDWR | os.O_CREAT, 0o600)  # see transaction()
        if create_tables:
            self._create_tables()

    # -- schema -----------------------------------------------------------------------------------

    def _create_tables(self) -> None:
        c = self.conn
        c.execute("CREATE TABLE IF NOT EXISTS sequences (object TEXT PRIMARY KEY, last INTEGER NOT NULL)")
        c.execute(
            "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, username TEXT, client_id TEXT,"
            " issued_at REAL, expires_at REAL)"
        )
        c.execute("CREATE TABLE IF NOT EXISTS api_usage (day TEXT PRIMARY KEY, used INTEGER NOT NULL)")
        c.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created REAL, info TEXT NOT NULL)")
        for obj in self.schema.objects.values():
            table = table_name(obj)
            cols = [f for f in obj.fields.values()]
            self._columns[obj.name] = cols
            existing = {row[1] for row in c.execute(f"PRAGMA table_info({q(table)})")}
            if not existing:
                c.execute(
                    f"CREATE TABLE {q(table)} (_seq INTEGER PRIMARY KEY, {q('Id')} TEXT NOT NULL UNIQUE)"
                )
                existing = {"_seq", "Id"}
            for f in cols:
                if f.name in existing:
                    continue
                collate = " COLLATE NOCASE" if f.type not in _SQL_TYPE and (f.unique or f.external_id) else ""
                c.execute(
                    f"ALTER TABLE {q(table)} ADD COLUMN {q(f.name)} {_SQL_TYPE.get(f.type, 'TEXT')}{collate}"
                )
            for f in cols:
                if f.name == "Id":
                    continue
                if f.unique:
                    c.execute(
                        f"CREATE UNIQUE INDEX IF NOT EXISTS {q('u_' + table + '_' + f.name.lower())}"
                        f" ON {q(table)} ({q(f.name)})"
                    )
                elif f.external_id or f.type == "reference":
                    c.execute(
                        f"CREATE INDEX IF NOT EXISTS {q('i_' + table + '_' + f.name.lower())}"
                        f" ON {q(table)} ({q(f.name)})"
                    )

    # -- transactions -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction; nested use becomes a savepoint, so an inner failure undoes only its part.

        The outermost one first takes the writers' lock file (``flock``): the emulator and its ingest
        processes then write in turn, each woken as soon as the other commits, instead of meeting at
        SQLite's write lock, whose busy handler polls with sleeps of up to 100 ms (measured: a fifth
        of a parallel ingest's time was spent there)."""
        with self.lock:
            depth = self._depth
            if depth == 0:
                fcntl.flock(self._writer_fd, fcntl.LOCK_EX)
            try:
                self._depth += 1
                self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO sp{depth}")
                    if depth:
                        self.conn.execute(f"RELEASE sp{depth}")
                    raise
                finally:
                    self._depth -= 1
                self.conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
            finally:
                if depth == 0:
                    fcntl.flock(self._writer_fd, fcntl.LOCK_UN)

    def allocate_ids(self, obj: ObjectDef, count: int) -> list[str]:
        with self.lock:
            row = self.conn.execute(
                "INSERT INTO sequences(object, last) VALUES (?, ?) "
                "ON CONFLICT(object) DO UPDATE SET last = last + excluded.last RETURNING last",
                (obj.name, count),
            ).fetchone()
        last = int(row[0])
        return ids.make_ids(obj.key_prefix, last - count + 1, count)

    # -- records ----------------------------------------------------------------------------------

    def record_to_api(
        self, obj: ObjectDef, row: sqlite3.Row | tuple[Any, ...], names: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            f = obj.fields[name.lower()]
            out[f.name] = F.to_api(f, value)
        return out

    def get(self, obj: ObjectDef, record_id: str, names: list[str] | None = None) -> dict[str, Any] | None:
        names = names or [f.name for f in self._columns[obj.name]]
        sql = f"SELECT {', '.join(q(n) for n in names)} FROM {q(table_name(obj))} WHERE {q('Id')} = ?"
        with self.lock:
            row = self.conn.execute(sql, (record_id,)).fetchone()
        return None if row is None else self.record_to_api(obj, row, names)

    def find_ids(self, obj: ObjectDef, f: FieldDef, values: Iterable[Any]) -> dict[str, list[str]]:
        """``{value (lower-cased text): [ids]}`` of records whose ``f`` is one of ``values``."""
        found: dict[str, list[str]] = {}
        chunk: list[Any] = []
        table = q(table_name(obj))

        def run(part: list[Any]) -> None:
            marks = ",".join("?" * len(part))
            sql = f"SELECT {q(f.name)}, {q('Id')} FROM {table} WHERE {q(f.name)} IN ({marks})"
            for value, rid in self.conn.execute(sql, part):
                found.setdefault(str(value).lower(), []).append(rid)

        with self.lock:
            for v in values:
                chunk.append(v)
                if len(chunk) == 900:
                    run(chunk)
                    chunk = []
            if chunk:
                run(chunk)
        return found

    def existing_ids(self, obj: ObjectDef, record_ids: Iterable[str]) -> set[str]:
        return {rid for lst in self.find_ids(obj, obj.fields["id"], record_ids).values() for rid in lst}

    def _duplicate(self, obj: ObjectDef, exc: sqlite3.IntegrityError, values: dict[str, Any]) -> F.FieldError:
        m = _UNIQUE_FAILED.search(str(exc))
        field = obj.field(m.group(1)) if m else None
        if field is None:
            return F.FieldError("DUPLICATE_VALUE", "duplicate value found")
        other = self.find_ids(obj, field, [values.get(field.name)]).get(
            str(values.get(field.name)).lower(), []
        )
        return F.FieldError(
            "DUPLICATE_VALUE",
            f"duplicate value found: {field.name} duplicates value on record with id: {other[0] if other else ''}",
            [],
        )

    def prepare_insert(
        self, obj: ObjectDef, values: dict[str, Any], record_id: str, now: str
    ) -> dict[str, Any]:
        """Complete ``values`` for a new record: system fields, defaults, the derived Name."""
        return self.prepare_inserts(obj, [values], [record_id], now)[0]

    def prepare_inserts(
        self, obj: ObjectDef, values: list[dict[str, Any]], record_ids: list[str], now: str
    ) -> list[dict[str, Any]]:
        """``prepare_insert`` for many records (a Bulk batch): the object's defaults are read once."""
        booleans = [(f.name, int(bool(f.default))) for f in obj.fields.values() if f.type == "boolean"]
        named_by_id = obj.is_custom  # a Text name left out on create becomes the record id, as in Salesforce
        contact = obj.name == "Contact"
        rows = []
        for given, record_id in zip(values, record_ids, strict=True):
            row = dict(given)
            row["Id"] = record_id
            row["IsDeleted"] = 0
            row["CreatedDate"] = row["LastModifiedDate"] = row["SystemModstamp"] = now
            for name, default in booleans:
                if row.get(name) is None:
                    row[name] = default
            if named_by_id and not row.get("Name"):
                row["Name"] = record_id
            if contact:
                row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
            rows.append(row)
        return rows

    def insert_many(self, obj: ObjectDef, rows: list[dict[str, Any]]) -> list[F.FieldError | None]:
        """Insert complete rows (from ``prepare_insert``) in the current transaction.

        Rows are grouped by column set and written with ``executemany``; when a group trips a unique
        index, it is replayed row by row so only the offending rows fail (``DUPLICATE_VALUE``).
        """
        results: list[F.FieldError | None] = [None] * len(rows)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(tuple(row), []).append(i)
        table = q(table_name(obj))
        for columns, idx in groups.items():
            sql = f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) VALUES ({', '.join('?' * len(columns))})"
            self._write_group(obj, sql, [tuple(rows[i].values()) for i in idx], idx, rows, results)
        return results

    def update_many(
        self, obj: ObjectDef, updates: list[tuple[str, dict[str, Any]]], now: str
    ) -> list[F.FieldError | None]:
        """Apply ``(id, values)`` updates in the current transaction (records must exist)."""
        results: list[F.FieldError | None] = [None] * len(updates)
        rows = []
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, (_rid, values) in enumerate(updates):
            row = dict(values)
            row["LastModifiedDate"] = row["SystemModstamp"] = now
            rows.append(row)
            groups.setdefault(tuple(row), []).append(i)
        table = q(table_name(obj))
        for columns, idx in groups.items():
            sets = ", ".join(f"{q(c)} = ?" for c in columns)
            sql = f"UPDATE {table} SET {sets} WHERE {q('Id')} = ?"
            params = [(*rows[i].values(), updates[i][0]) for i in idx]
            self._write_group(obj, sql, params, idx, rows, results)
        if obj.name == "Contact" and any("FirstName" in v or "LastName" in v for _, v in updates):
            self.conn.execute(
                f"UPDATE {table} SET {q('Name')} = TRIM(COALESCE({q('FirstName')} || ' ', '') || "
                f"COALESCE({q('LastName')}, '')) WHERE {q('Id')} IN ({','.join('?' * len(updates))})",
                [rid for rid, _ in updates],
            )
        return results

    def _write_group(
        self,
        obj: ObjectDef,
        sql: str,
        params: list[tuple[Any, ...]],
        idx: list[int],
        rows: list[dict[str, Any]],
        results: list[F.FieldError | None],
    ) -> None:
        c = self.conn
        c.execute("SAVEPOINT grp")
        try:
            c.executemany(sql, params)
            c.execute("RELEASE grp")
            return
        except sqlite3.IntegrityError:
            c.execute("ROLLBACK TO grp")
            c.execute("RELEASE grp")
        for i, p in zip(idx, params, strict=True):
            try:
                c.execute(sql, p)
            except sqlite3.IntegrityError as exc:
                results[i] = self._duplicate(obj, exc, rows[i])

    def delete_many(self, obj: ObjectDef, record_ids: list[str]) -> None:
        """Delete records and clear lookups pointing at them (deleteConstraint SetNull)."""
        if not record_ids:
            return
        marks = ",".join("?" * len(record_ids))
        self.conn.execute(f"DELETE FROM {q(table_name(obj))} WHERE {q('Id')} IN ({marks})", record_ids)
        for other in self.schema.objects.values():
            for f in other.fields.values():
                if f.reference_to and f.reference_to.lower() == obj.name.lower():
                    self.conn.execute(
                        f"UPDATE {q(table_name(other))} SET {q(f.name)} = NULL WHERE {q(f.name)} IN ({marks})",
                        record_ids,
                    )

    def rows(self, obj: ObjectDef) -> Iterator[dict[str, Any]]:
        """Every record of ``obj`` as API-typed dicts keyed by canonical field names (for SOQL)."""
        cols = self._columns[obj.name]
        names = [f.name for f in cols]
        bools = [f.name for f in cols if f.type == "boolean"]
        floats = [f.name for f in cols if f.type in ("double", "currency", "percent")]
        sql = f"SELECT {', '.join(q(n) for n in names)} FROM {q(table_name(obj))} ORDER BY _seq"
        with self.lock:
            data = self.conn.execute(sql).fetchall()
        for values in data:
            rec = dict(zip(names, values, strict=True))
            for b in bools:
                rec[b] = bool(rec[b])
            for n in floats:
                if rec[n] is not None:
                    rec[n] = float(rec[n])
            yield rec

    def count(self, obj: ObjectDef) -> int:
        with self.lock:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM {q(table_name(obj))}").fetchone()[0])

    # -- tokens -----------------------------------------------------------------------------------

    def save_token(
        self, token: str, username: str, client_id: str, issued_at: float, expires_at: float
    ) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?)",
                (token, username, client_id, issued_at, expires_at),
            )

    def token_expiry(self, token: str) -> float | None:
        with self.lock:
            row = self.conn.execute("SELECT expires_at FROM tokens WHERE token = ?", (token,)).fetchone()
        return None if row is None else float(row[0])

    def expire_tokens(self) -> None:
        with self.lock:
            self.conn.execute("UPDATE tokens SET expires_at = 0")

    # -- daily API usage --------------------------------------------------------------------------

    @staticmethod
    def today() -> str:
        return dt.datetime.now(dt.UTC).date().isoformat()

    def api_used(self) -> int:
        with self.lock:
            row = self.conn.execute("SELECT used FROM api_usage WHERE day = ?", (self.today(),)).fetchone()
        return 0 if row is None else int(row[0])

    def add_api_use(self, n: int = 1) -> int:
        with self.lock:
            row = self.conn.execute(
                "INSERT INTO api_usage(day, used) VALUES (?, ?) "
                "ON CONFLICT(day) DO UPDATE SET used = used + excluded.used RETURNING used",
                (self.today(), n),
            ).fetchone()
        return int(row[0])

    def set_api_used(self, used: int) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO api_usage(day, used) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET used = excluded.used",
                (self.today(), used),
            )

    # -- jobs -------------------------------------------------------------------------------------

    def save_job(self, info: dict[str, Any], created: float) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO jobs(id, created, info) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET info = excluded.info",
                (info["id"], created, json.dumps(info)),
            )

    def load_job(self, job_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute("SELECT info FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def list_jobs(self) -> list[dict[str, Any]]:
        with self.lock:
            data = self.conn.execute("SELECT info FROM jobs ORDER BY created").fetchall()
        return [json.loads(r[0]) for r in data]

    def delete_job(self, job_id: str) -> None:
        with self.lock:
            self.conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    # -- admin ------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every record, token-independent state and job (schema and tokens stay)."""
        with self.transaction() as c:
            for obj in self.schema.objects.values():
                c.execute(f"DELETE FROM {q(table_name(obj))}")
            c.execute("DELETE FROM jobs")
            c.execute("DELETE FROM api_usage")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
            os.close(self._writer_fd)
