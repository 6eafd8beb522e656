"""Benchmark: the CRM API handler's own overhead and its Salesforce logins, over 1,000 warm requests.

    python -m bench.crm_api [--requests 1000]

Starts the Salesforce emulator and the local API server (``local.api_server.ApiServer``: the real
Lambda handler behind HTTP, API Gateway events in and out) in this process, then sends the same mix
of requests (create, read, update an Account; a SOQL query; health) twice:

- ``session_reused``: the handler as shipped: one gateway per process, logged in once (cold start);
- ``login_per_request``: as the original system did: a new Salesforce client, so a new OAuth login,
  for every request.

For each request it measures the time inside ``lambda_handler`` and, separately, the time spent in
the gateway's HTTP calls to Salesforce (every ``requests.Session.request`` made while the handler
runs: API calls and logins). ``overhead`` = handler - Salesforce HTTP: the handler's own cost,
excluding the emulator's time. Prints one JSON object: p50/p99 in milliseconds, and Salesforce
logins and API calls per 1,000 warm requests (target for logins: 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from handlers import _crm_edge, crm_api
from local.api_server import ApiServer
from local.salesforce_emulator.server import SalesforceCredentials, SalesforceEmulator
from local.tls import ensure_tls
from local.world import salesforce_endpoints, salesforce_gateway

WARMUP = 25


class HttpTimer:
    """Time spent in ``requests.Session.request`` by the thread currently inside the handler."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._original = requests.Session.request

    def install(self) -> None:
        timer, original = self, self._original

        def timed(session: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
            if not getattr(timer._local, "active", False):
                return original(session, *args, **kwargs)
            started = time.perf_counter()
            try:
                return original(session, *args, **kwargs)
            finally:
                timer._local.spent += time.perf_counter() - started

        requests.Session.request = timed  # type: ignore[assignment, method-assign]

    def uninstall(self) -> None:
        requests.Session.request = self._original  # type: ignore[method-assign]

    def begin(self) -> None:
        self._local.active, self._local.spent = True, 0.0

    def end(self) -> float:
        self._local.active = False
        spent: float = self._local.spent
        return spent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50) * 1000, 3),
        "p99": round(percentile(values, 99) * 1000, 3),
        "mean": round(statistics.fmean(values) * 1000, 3),
    }


def run_variant(
    name: str, endpoints: dict[str, Any], n: int, *, login_per_request: bool, timer: HttpTimer
) -> dict[str, Any]:
    handler_s: list[float] = []
    http_s: list[float] = []
    recording = {"on": False}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        timer.begin()
        started = time.perf_counter()
        try:
            if login_per_request:  # what the original did: a new client (and OAuth login) per request
                _crm_edge.configure(
                    gateway=salesforce_gateway(endpoints),
                    settings=server.settings,
                    cursor_key=server.cursor_key,
                    idempotency=server.idempotency,
                )
            return crm_api.lambda_handler(event, context)
        finally:
            elapsed = time.perf_counter() - started
            spent = timer.end()
            if recording["on"]:
                handler_s.append(elapsed)
                http_s.append(spent)

    server = ApiServer(endpoints, handler=handler).start()
    client = requests.Session()
    admin = endpoints["salesforce"]["admin_url"]
    ca = endpoints["salesforce"]["ca_cert"]
    try:
        account = client.post(server.url + "/accounts", json={"Name": "Bench Account"}, timeout=30).json()
        account_id = account["data"]["record_id"]
        calls: list[Callable[[int], requests.Response]] = [
            lambda i: client.post(
                server.url + "/accounts", json={"Name": f"Bench {i}", "Phone": "555"}, timeout=30
            ),
            lambda i: client.get(f"{server.url}/accounts/{account_id}", timeout=30),
            lambda i: client.patch(f"{server.url}/accounts/{account_id}", json={"Phone": str(i)}, timeout=30),
            lambda i: client.post(
                server.url + "/query",
                json={"soql": "SELECT Id, Name FROM Account ORDER BY Name LIMIT 5"},
                timeout=30,
            ),
            lambda i: client.get(server.url + "/health", timeout=30),
        ]
        for i in range(WARMUP):
            assert calls[i % len(calls)](i).status_code < 300
        before = requests.get(admin + "/counters", verify=ca, timeout=30).json()
        client_s: list[float] = []
        recording["on"] = True
        for i in range(n):
            started = time.perf_counter()
            resp = calls[i % len(calls)](i)
            client_s.append(time.perf_counter() - started)
            assert resp.status_code < 300, resp.text[:300]
        recording["on"] = False
        after = requests.get(admin + "/counters", verify=ca, timeout=30).json()
    finally:
        client.close()
        server.stop()
    overhead = [h - s for h, s in zip(handler_s, http_s, strict=True)]
    per_1000 = 1000 / n
    return {
        "variant": name,
        "requests": n,
        "handler_overhead_ms": _summary(overhead),
        "salesforce_http_ms": _summary(http_s),
        "handler_total_ms": _summary(handler_s),
        "client_round_trip_ms": _summary(client_s),
        "salesforce_logins_per_1000": round((after["logins"] - before["logins"]) * per_1000, 1),
        "salesforce_api_calls_per_1000": round(
            (after["api_requests"] - before["api_requests"]) * per_1000, 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crm_api", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)

    log_handler = _crm_edge.logger.registered_handler  # logs are still formatted (real cost), not shown
    if isinstance(log_handler, logging.StreamHandler):
        log_handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        state = Path(tmp)
        tls = ensure_tls(state / "tls")
        creds = SalesforceCredentials.generate()
        emulator = SalesforceEmulator(state / "salesforce", tls, creds).start()
        endpoints = {"salesforce": salesforce_endpoints(emulator.endpoints, creds, tls)}
        timer = HttpTimer()
        timer.install()
        try:
            results = [
                run_variant("session_reused", endpoints, args.requests, login_per_request=False, timer=timer),
                run_variant(
                    "login_per_request", endpoints, args.requests, login_per_request=True, timer=timer
                ),
            ]
        finally:
            timer.uninstall()
            emulator.stop()
    print(
        json.dumps(
            {"benchmark": "crm_api", "mix": "create/get/patch account, query, health", "results": results},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
