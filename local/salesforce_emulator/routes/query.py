"""SOQL over REST: ``query``/``queryAll``, 2,000 records a page, later pages through server-side cursors."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from flask import Response, request

from local.salesforce_emulator import ids, soql
from local.salesforce_emulator.web import DATA, ApiError, Route, sf_json

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

PAGE_SIZE = 2000
MAX_CURSORS = 200


class Cursors:
    """Server-side query cursors for ``nextRecordsUrl`` (in memory, like short-lived real ones)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._items: OrderedDict[str, tuple[list[dict[str, Any]], int]] = OrderedDict()

    def put(self, records: list[dict[str, Any]], total: int) -> str:
        cursor = ids.to18("01g" + ids.POD + secrets.token_hex(5).upper())[:15]
        with self._mutex:
            self._items[cursor] = (records, total)
            while len(self._items) > MAX_CURSORS:
                self._items.popitem(last=False)
        return cursor

    def get(self, cursor: str) -> tuple[list[dict[str, Any]], int] | None:
        with self._mutex:
            return self._items.get(cursor)

    def clear(self) -> None:
        with self._mutex:
            self._items.clear()


class QueryRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        # Deletes are hard deletes (no recycle bin), so queryAll answers what query answers.
        return [
            Route("GET", f"{DATA}/query", self.query, "query"),
            Route("GET", f"{DATA}/queryAll", self.query, "query"),
            Route("GET", f"{DATA}/query/<locator>", self.query_more, "query_more"),
            Route("GET", f"{DATA}/queryAll/<locator>", self.query_more, "query_more"),
        ]

    def query(self, version: str) -> Response:
        text = request.args.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
        try:
            result = soql.compile_query(text, self.emu.schema).execute(self.emu.store.rows, version)
        except soql.SoqlError as exc:
            raise ApiError(400, exc.error_code, exc.message) from None
        return self._page(version, list(result.records), result.total_size, 0, None)

    def query_more(self, version: str, locator: str) -> Response:
        cursor, _, offset = locator.partition("-")
        found = self.emu.cursors.get(cursor)
        if found is None or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        recs, total = found
        return self._page(version, recs, total, int(offset), cursor)

    def _page(
        self, version: str, recs: list[dict[str, Any]], total: int, start: int, cursor: str | None
    ) -> Response:
        chunk = recs[start : start + PAGE_SIZE]
        body: dict[str, Any] = {"totalSize": total, "done": start + PAGE_SIZE >= len(recs), "records": chunk}
        if not body["done"]:
            cursor = cursor or self.emu.cursors.put(recs, total)
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}-{start + PAGE_SIZE}"
        return sf_json(body)
