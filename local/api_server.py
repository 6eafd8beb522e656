"""The CRM API on localhost: the real Lambda handler behind a plain-HTTP server, as API Gateway would call it.

    server = ApiServer(endpoints)   # endpoints: what `claimsync local up` prints
    server.start()                  # http://127.0.0.1:PORT (a free port unless `port` is given)
    requests.get(server.url + "/health")
    server.stop()

Each HTTP request becomes an API Gateway REST proxy event (``resource`` from ``ROUTES``,
``pathParameters``, ``headers``/``multiValueHeaders`` (a repeated header arrives joined, as WSGI
gives it), ``queryStringParameters``, ``body`` /
``isBase64Encoded``, ``requestContext`` with ``identity``), goes through ``handlers.crm_api.lambda_handler``
and the handler's result becomes the HTTP response. Invocations are serialised, as in one Lambda
execution environment.

The handler reads its Salesforce credentials and its cursor key from Secrets Manager in AWS, and keeps
``Idempotency-Key`` answers in a DynamoDB table. Locally the server injects
(``handlers._crm_edge.configure``) a gateway built from ``endpoints["salesforce"]``, a random cursor
key of its own (cursors die with the server, as they would with a rotated key) and an idempotency
store over moto's DynamoDB: the local
world's moto when ``endpoints`` has one (``endpoints["aws"]``; ``claimsync local api``), else a moto
server the ``ApiServer`` starts on loopback itself (tests). No secret ever goes into the environment.
The handler module holds one configuration: run one ``ApiServer`` per process at a time.

``serve(endpoints, port)`` runs the server until SIGINT/SIGTERM (``claimsync local api``).
"""

from __future__ import annotations

import base64
import json
import secrets
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from claimsync.crm import CrmSettings
from claimsync.crm.idempotency import TABLE_KEY_ATTRIBUTE, TABLE_TTL_ATTRIBUTE, IdempotencyStore
from claimsync.crm.routes import match_path
from claimsync.salesforce import API_VERSION
from claimsync.salesforce.gateway import SalesforceGateway
from handlers import _crm_edge, crm_api
from local.httpserver import BackgroundServer
from local.world import salesforce_gateway

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
LOCAL_FUNCTION_NAME = "claimsync-crm-api-local"
LOCAL_IDEMPOTENCY_TABLE = "claimsync-local-crm-idempotency"


@dataclass(frozen=True)
class LocalLambdaContext:
    aws_request_id: str
    function_name: str = LOCAL_FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:000000000000:function:{LOCAL_FUNCTION_NAME}"
    log_group_name: str = f"/aws/lambda/{LOCAL_FUNCTION_NAME}"
    log_stream_name: str = "local"
    deadline_ms: int = 0

    def get_remaining_time_in_millis(self) -> int:
        return max(self.deadline_ms - int(time.time() * 1000), 0)


def to_event(request: Request, *, stage: str = "local") -> dict[str, Any]:
    """The API Gateway REST proxy event (format 1.0) for ``request``."""
    # REST APIs deliver ``path`` still percent-encoded and ``pathParameters`` decoded.
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    path = urlsplit(raw_uri).path or "/"
    matched = match_path(path)
    resource = matched[0] if matched else path  # API Gateway would not even call the Lambda then
    path_parameters = {k: unquote(v) for k, v in matched[1].items()} if matched and matched[1] else None
    raw = request.get_data(cache=False)
    body: str | None
    if not raw:
        body, is_base64 = None, False
    else:
        try:
            body, is_base64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(raw).decode("ascii"), True
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {k: request.args.getlist(k) for k in request.args}
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": "local",
            "extendedRequestId": request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.remote_addr or "127.0.0.1",
                "user": None,
                "userAgent": request.headers.get("User-Agent"),
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def to_response(result: dict[str, Any]) -> Response:
    """The HTTP response for a Lambda proxy integration result."""
    headers = Headers()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            headers.add(name, str(value))
    for name, value in (result.get("headers") or {}).items():
        if name not in headers:
            headers.add(name, str(value))
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return Response(data, status=int(result["statusCode"]), headers=headers)


class ApiServer:
    """The CRM API handler on 127.0.0.1 over plain HTTP, against the Salesforce in ``endpoints``."""

    def __init__(
        self,
        endpoints: dict[str, Any],
        port: int = 0,
        *,
        settings: CrmSettings | None = None,
        gateway: SalesforceGateway | None = None,
        handler: Handler | None = None,
        cursor_key: bytes | None = None,
    ) -> None:
        sf = endpoints["salesforce"]
        self.endpoints = endpoints
        self.settings = settings or replace(
            CrmSettings(),
            salesforce_api_version=sf.get("api_version", API_VERSION),
            ca_bundle=sf.get("ca_cert", ""),
            function_name=LOCAL_FUNCTION_NAME,
            function_version="local",
        )
        self.gateway = gateway or salesforce_gateway(endpoints)
        self.cursor_key = cursor_key or secrets.token_bytes(32)
        self.idempotency: IdempotencyStore | None = None
        self.dynamodb_url = ""
        self._moto: Any = None
        self._handler = handler or crm_api.lambda_handler
        self._invoke_lock = threading.Lock()
        self._server = BackgroundServer(self._wsgi, port=port, name="crm-api")

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> ApiServer:
        self.idempotency = self._idempotency_store()
        self.configure_handler()
        self._server.start()
        return self

    def configure_handler(self) -> None:
        """(Re)install this server's gateway, settings, cursor key and store in the handler module."""
        _crm_edge.configure(
            gateway=self.gateway,
            settings=self.settings,
            cursor_key=self.cursor_key,
            idempotency=self.idempotency,
        )

    def stop(self) -> None:
        self._server.stop()
        _crm_edge.configure()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def _idempotency_store(self) -> IdempotencyStore:
        aws = self.endpoints.get("aws")
        if aws:
            self.dynamodb_url, region = aws["endpoint_url"], aws.get("region", "us-east-1")
        else:
            from moto.server import ThreadedMotoServer

            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.dynamodb_url, region = f"http://{host}:{port}", "us-east-1"
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.dynamodb_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto accepts any credentials
        )
        ensure_idempotency_table(client, LOCAL_IDEMPOTENCY_TABLE)
        return IdempotencyStore(LOCAL_IDEMPOTENCY_TABLE, ttl_s=self.settings.idempotency_ttl_s, client=client)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        event = to_event(request)
        context = LocalLambdaContext(
            aws_request_id=event["requestContext"]["requestId"],
            deadline_ms=int(time.time() * 1000) + 30_000,
        )
        with self._invoke_lock:  # one invocation at a time per execution environment
            result = self._handler(event, context)
        response: Iterable[bytes] = to_response(result)(environ, start_response)
        return response


def ensure_idempotency_table(client: Any, name: str) -> None:
    """The table Powertools' DynamoDB persistence layer expects, as the CRM API stack declares it;
    kept if it exists (a restarted ``local api`` finds its keys)."""
    try:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": TABLE_KEY_ATTRIBUTE, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": TABLE_KEY_ATTRIBUTE, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL_ATTRIBUTE}
    )


def serve(endpoints: dict[str, Any], port: int = 0) -> int:
    """Run the CRM API until SIGINT/SIGTERM; prints one JSON line with its URL when ready."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = ApiServer(endpoints, port).start()
    try:
        print(json.dumps({"crm_api": {"url": server.url, "openapi": "docs/openapi.json"}}), flush=True)
        print(f"CRM API ready on {server.url} — Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    from local.statedir import read_endpoints, state_dir_from

    sys.exit(serve(read_endpoints(state_dir_from(None)), int(sys.argv[1]) if len(sys.argv) > 1 else 8080))
