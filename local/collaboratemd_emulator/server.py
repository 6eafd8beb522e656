"""The CollaborateMD Web API emulator: the two report calls over HTTP(S), plus ``/__admin``.

Order of checks for an API call: routing (unknown path 404, wrong method 405), HTTP Basic credentials
(401 with ``WWW-Authenticate``), the customer number in the path (403 when the credentials belong to
another customer), ``Accept`` (415), then queued faults (delay, 5xx), then the report logic. Report
outcomes are HTTP 200 with the outcome in ``Status``, like the real API. See README.md for the shapes.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from local.httpserver import BackgroundServer
from local.private import write_private
from local.tls import TlsMaterial

from .admin import ADMIN_PREFIX, admin_blueprint
from .engine import Call, EmulatorConfig, Reply, ReportEngine
from .reportfile import ReportFileError, load_report_file, normalize_rows

XML_NAMESPACE = "http://www.collaboratemd.com/api/v1/"
XML_ROOT = "reportResponse"
ROWS_FILE = "collaboratemd_rows.json"
REALM = 'Basic realm="CollaborateMD Web API"'


@dataclass(frozen=True)
class CmdCredentials:
    """The one customer the emulator serves: its login, customer number, report id and filter id."""

    username: str
    password: str
    customer: str  # 8 digits
    report_id: str  # digits
    filter_id: str  # digits, different from report_id

    def __repr__(self) -> str:
        return f"CmdCredentials(username={self.username!r}, password='***', customer={self.customer!r})"

    @classmethod
    def generate(cls) -> CmdCredentials:
        report_id = str(1000 + secrets.randbelow(9000))
        filter_id = report_id
        while filter_id == report_id:
            filter_id = str(10000 + secrets.randbelow(90000))
        return cls(
            username=f"claimsync-local-{secrets.token_hex(3)}",
            password=secrets.token_urlsafe(24),
            customer=str(10_000_000 + secrets.randbelow(90_000_000)),
            report_id=report_id,
            filter_id=filter_id,
        )

    def save(self, path: Path) -> None:
        """Write the credentials as JSON, readable by the owner only."""
        write_private(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> CmdCredentials:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"{path}: cannot read CollaborateMD credentials ({type(exc).__name__})"
            ) from None
        fields = ("username", "password", "customer", "report_id", "filter_id")
        if not isinstance(data, dict) or any(not isinstance(data.get(f), str) or not data[f] for f in fields):
            raise ValueError(f"{path}: expected an object with text fields {', '.join(fields)}")
        creds = cls(**{f: data[f] for f in fields})
        if not (len(creds.customer) == 8 and creds.customer.isdigit()):
            raise ValueError(f"{path}: customer must be 8 digits")
        if (
            not (creds.report_id.isdigit() and creds.filter_id.isdigit())
            or creds.report_id == creds.filter_id
        ):
            raise ValueError(f"{path}: report_id and filter_id must be different numbers")
        return creds


class CollaborateMDEmulator:
    """The emulator on a loopback port; HTTPS when ``tls`` is given. ``port=0`` picks a free port."""

    def __init__(
        self,
        state_dir: Path,
        credentials: CmdCredentials,
        *,
        tls: TlsMaterial | None = None,
        port: int = 0,
        rows: list[dict[str, str]] | None = None,
        running_polls: int = 2,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.credentials = credentials
        self._tls = tls
        self._port = port
        rows_file = state_dir / ROWS_FILE
        initial: list[dict[str, str]] = []
        if rows is not None:
            initial = normalize_rows(rows)
        elif rows_file.exists():
            try:
                initial = load_report_file(rows_file)
            except ReportFileError as exc:
                raise ValueError(f"cannot restore the emulator's rows: {exc}") from None
        self.engine = ReportEngine(
            customer=credentials.customer,
            report_id=credentials.report_id,
            filter_id=credentials.filter_id,
            rows=initial,
            config=EmulatorConfig().updated({"running_polls": running_polls}),
            rows_file=rows_file,
        )
        if rows is not None or not rows_file.exists():
            self.engine.persist()
        self._stopping = threading.Event()
        self.app = create_app(self.engine, credentials, self._stopping)
        self._server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.url

    @property
    def admin_url(self) -> str:
        return self.url + ADMIN_PREFIX

    def start(self) -> CollaborateMDEmulator:
        ssl_context = self._tls.server_context() if self._tls else None
        self._stopping.clear()
        self._server = BackgroundServer(
            self.app, port=self._port, ssl_context=ssl_context, name="collaboratemd-emulator"
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts injected delays short
        if self._server is not None:
            self._server.stop()
            self._server = None

    def set_rows(self, rows: list[dict[str, str]]) -> int:
        """Replace the rows the report serves (values coerced to text); returns the row count."""
        return self.engine.replace_rows(normalize_rows(rows))

    def __enter__(self) -> CollaborateMDEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_rows_file(state_dir: Path, rows: list[dict[str, str]]) -> int:
    """Give the emulator on ``state_dir`` these rows to serve when it (next) starts; the row count.

    The file is what the emulator itself persists (owner-only, written atomically), so this is how
    a parent hands rows to an emulator in another process.
    """
    normalized = normalize_rows(rows)
    write_private(state_dir / ROWS_FILE, json.dumps(normalized, separators=(",", ":")))
    return len(normalized)


def create_app(engine: ReportEngine, credentials: CmdCredentials, stopping: threading.Event) -> Flask:
    """The two report calls, the admin blueprint, and errors shaped like the real API's."""
    app = Flask("collaboratemd_emulator")
    app.register_blueprint(admin_blueprint(engine))
    calls = ReportCalls(engine, credentials, stopping)
    app.add_url_rule(
        "/v1/customer/<customer>/reports/<report_seq>/filter/<filter_seq>/run",
        view_func=calls.run_report,
        methods=["POST"],
    )
    app.add_url_rule(
        "/v1/customer/<customer>/reports/results/<request_seq>",
        view_func=calls.report_results,
        methods=["POST"],
    )
    app.register_error_handler(HTTPException, calls.http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


class ReportCalls:
    """The report calls over HTTP: the checks every call passes, then one ``ReportEngine`` call."""

    def __init__(self, engine: ReportEngine, credentials: CmdCredentials, stopping: threading.Event) -> None:
        self.engine = engine
        self.credentials = credentials
        self.stopping = stopping  # set on stop(): cuts injected delays short

    def run_report(self, customer: str, report_seq: str, filter_seq: str) -> Response:
        checked = self.guard("run", customer)
        if isinstance(checked, Response):
            return checked
        return render_reply(self.engine.start_report(customer, report_seq, filter_seq), *checked)

    def report_results(self, customer: str, request_seq: str) -> Response:
        checked = self.guard("results", customer)
        if isinstance(checked, Response):
            return checked
        return render_reply(self.engine.fetch_results(customer, request_seq), *checked)

    def guard(self, call: Call, customer: str) -> Response | tuple[str, str]:
        """Credentials, customer, Accept and HTTP-level faults; (media type, casing) when all pass."""
        refused = self._refusal(customer)
        if refused is not None:
            return refused
        media = _negotiate(request.headers.get("Accept"))
        if media is None:
            self.engine.count("unsupported_media_type")
            return _text(415, "Unsupported Media Type: accept application/xml or application/json.")
        self.engine.count(call)
        failure = self._inject(call)
        if failure is not None:
            return failure
        return media, self.engine.config().casing

    def _refusal(self, customer: str) -> Response | None:
        """401 without the right HTTP Basic credentials, 403 for another customer's number."""
        auth = request.authorization
        creds = self.credentials
        if (
            auth is None
            or auth.type != "basic"
            or not hmac.compare_digest((auth.username or "").encode(), creds.username.encode())
            or not hmac.compare_digest((auth.password or "").encode(), creds.password.encode())
        ):
            self.engine.count("unauthorized")
            response = _text(401, "Unauthorized: valid HTTP Basic credentials are required.")
            response.headers["WWW-Authenticate"] = REALM
            return response
        if not hmac.compare_digest(customer.encode(), creds.customer.encode()):
            self.engine.count("forbidden")
            return _text(403, "Forbidden: these credentials do not give access to this customer.")
        return None

    def _inject(self, call: Call) -> Response | None:
        """The queued HTTP-level faults for this call: a delay first, then a 5xx answer."""
        delay = self.engine.take_fault("delay", call)
        if delay is not None:
            self.engine.count("injected_delay")
            self.stopping.wait(float(delay["seconds"]))
        failure = self.engine.take_fault("http_status", call)
        if failure is None:
            return None
        self.engine.count("injected_http_status")
        return _text(int(failure["status"]), f"Injected failure (HTTP {failure['status']}).")

    def http_error(self, exc: HTTPException) -> Response:
        code = exc.code or 500
        if request.path.startswith(ADMIN_PREFIX):
            response = Response(
                json.dumps({"error": exc.description or exc.name}), status=code, mimetype="application/json"
            )
        else:
            if code == 404:
                self.engine.count("not_found")
            elif code == 405:
                self.engine.count("method_not_allowed")
            response = _text(code, f"{exc.name}.")
        valid_methods = getattr(exc, "valid_methods", None)
        if code == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response


def _unexpected(exc: Exception) -> Response:
    """A safety net: never a traceback to the client."""
    current_app.logger.error("unexpected error in the CollaborateMD emulator: %s", type(exc).__name__)
    return Response(json.dumps({"error": "internal error"}), status=500, mimetype="application/json")


def _negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header: XML by default, JSON on request, else None."""
    if accept is None or not accept.strip():
        return "application/xml"
    return request.accept_mimetypes.best_match(["application/xml", "text/xml", "application/json"])


def _field_names(casing: str) -> dict[str, str]:
    names = ("Status", "StatusMessage", "Identifier", "Data")
    if casing == "lower":
        return {name: name[0].lower() + name[1:] for name in names}
    return {name: name for name in names}


def render_reply(reply: Reply, media: str, casing: str) -> Response:
    """The reply as JSON or as XML in the CollaborateMD namespace, with the configured field casing."""
    names = _field_names(casing)
    values: list[tuple[str, str]] = [("Status", reply.status), ("StatusMessage", reply.message)]
    if reply.identifier is not None:
        values.append(("Identifier", reply.identifier))
    if reply.data is not None:
        values.append(("Data", reply.data))
    if media == "application/json":
        body = json.dumps({names[key]: value for key, value in values}).encode("utf-8")
    else:
        root = ET.Element(f"{{{XML_NAMESPACE}}}{XML_ROOT}")
        for key, value in values:
            ET.SubElement(root, f"{{{XML_NAMESPACE}}}{names[key]}").text = value
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=XML_NAMESPACE)
    return Response(body, status=200, content_type=f"{media}; charset=utf-8")


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def describe(emulator: CollaborateMDEmulator) -> dict[str, Any]:
    """The endpoint facts a client needs (for the local world's endpoints line); includes the password."""
    creds = emulator.credentials
    return {
        "url": emulator.url,
        "admin_url": emulator.admin_url,
        "username": creds.username,
        "password": creds.password,
        "customer": creds.customer,
        "report_id": creds.report_id,
        "filter_id": creds.filter_id,
    }
