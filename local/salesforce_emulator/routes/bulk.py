"""Bulk API 2.0 ingest over HTTP: jobs, the CSV upload, state changes, result files (``bulk.py`` does
the work)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Response, request

from local.salesforce_emulator.bulk import RESULT_FILES
from local.salesforce_emulator.web import DATA, ApiError, Route, not_found, read_json, sf_json

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

_JOBS = f"{DATA}/jobs/ingest"
_JOB = f"{_JOBS}/<job_id>"


class BulkRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            Route("POST", _JOBS, self.create, "bulk_create_job"),
            Route("GET", _JOBS, self.list, "bulk_list_jobs"),
            Route("GET", _JOB, self.get, "bulk_get_job"),
            Route("PATCH", _JOB, self.set_state, "bulk_close"),
            Route("DELETE", _JOB, self.delete, "bulk_delete_job"),
            Route("PUT", f"{_JOB}/batches", self.upload, "bulk_upload"),
            Route("GET", f"{_JOB}/<kind>", self.results, "bulk_results"),
        ]

    def create(self, version: str) -> Response:
        return sf_json(self.emu.bulk.create(read_json(), version), 200)

    def list(self, version: str) -> Response:
        return sf_json(self.emu.bulk.list())

    def get(self, version: str, job_id: str) -> Response:
        return sf_json(self.emu.bulk.public(self.emu.bulk.get(job_id)))

    def set_state(self, version: str, job_id: str) -> Response:
        return sf_json(self.emu.bulk.set_state(job_id, read_json()))

    def delete(self, version: str, job_id: str) -> Response:
        self.emu.bulk.delete(job_id)
        return Response(status=204)

    def upload(self, version: str, job_id: str) -> Response:
        content_type = request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("text/csv"):
            raise ApiError(400, "INVALIDCONTENTTYPE", f"Unsupported content type: {content_type or 'none'}")
        self.emu.bulk.upload(job_id, request.stream, request.content_length)
        return Response(status=201)

    def results(self, version: str, job_id: str, kind: str) -> Response:
        kind = kind.lower()
        if kind not in RESULT_FILES:
            raise not_found()
        path, inline = self.emu.bulk.result_file(job_id, kind)
        if path is None:
            return Response(inline, status=200, content_type="text/csv")
        return Response(_chunks(path), status=200, content_type="text/csv")


def _chunks(path: Path | str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk
