"""The local world: both emulators (and, for the sync, local AWS) started together from one state dir.

``claimsync local up`` builds a ``LocalWorld``, starts it, prints ``endpoints`` as one JSON line and
waits for SIGINT/SIGTERM. Other commands find the running world through ``endpoints.json`` in the
state directory. Credentials are generated once per state directory (never committed, never real);
every file holding one is owner-only (0600).

One world per state directory: a running world holds an exclusive ``flock`` on ``local-up.lock``
(which names its pid). A second ``local up`` on the same directory is refused before it touches
anything, and an endpoints file beside a lock nobody holds is what a crashed world left behind. (An
endpoints file without any lock file was written by other means, e.g. a test serving only the
Salesforce emulator: it is taken as it is, and a world that does not answer says so when called.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimsync.salesforce import API_VERSION
from claimsync.salesforce.auth import SalesforceCredentials
from claimsync.salesforce.gateway import SalesforceGateway
from local.collaboratemd_emulator.generator import MAPPED_PAYERS, GeneratorSettings, generate_rows
from local.collaboratemd_emulator.reportfile import load_report_file
from local.collaboratemd_emulator.server import CmdCredentials, write_rows_file
from local.emulator_process import EmulatorProcess, load_or_create
from local.private import write_private
from local.salesforce_emulator.server import SalesforceCredentials as EmuSfCredentials
from local.statedir import ENDPOINTS_FILE, StateDirLock
from local.tls import TlsMaterial, ensure_tls

SF_API_VERSION = API_VERSION  # the version the local world's gateways call
DEFAULT_CLAIMS = 2_000
DEFAULT_SEED = 7


@dataclass
class WorldOptions:
    state_dir: Path
    claims: int | None = None
    seed: int = DEFAULT_SEED
    report_file: Path | None = None
    running_polls: int = 2
    with_aws: bool = True  # moto with the claim-sync state machine deployed into it
    moto_port: int = 0  # 0: any free port; fixed when Step Functions Local must reach moto
    sync_overrides: dict[str, Any] = field(default_factory=dict)  # SyncSettings fields, e.g. page_size
    # Start one execution environment per function as the world starts (in the background), as
    # `sam local start-lambda --warm-containers EAGER` does: a run then pays no import per function.
    warm_workers: bool = True


class LocalWorld:
    def __init__(self, options: WorldOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self.sf: EmulatorProcess | None = None  # each emulator runs in a process of its own
        self.cmd: EmulatorProcess | None = None
        self.aws: Any = None
        self.abnormal_ends: Any = None  # local/aws/events.py ExecutionStatusRule (the EventBridge rule)
        self._saved_env: dict[str, str] | None = None
        self._lock: StateDirLock | None = None
        self.endpoints: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        """Start everything; raises WorldBusy (touching nothing) if the directory is in use, and
        ReportFileError (before any server starts) for an unreadable ``report_file``.

        Each emulator runs in a process of its own (``local/emulator_process.py``): started together,
        then waited for; they stop with the world, or with this process however it ends."""
        o = self.options
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = StateDirLock(self.state_dir)
        lock.acquire()
        self._lock = lock
        rows = self._initial_rows()
        tls = ensure_tls(self.state_dir / "tls")
        sf_creds_path = self.state_dir / "salesforce-credentials.json"
        cmd_creds_path = self.state_dir / "collaboratemd-credentials.json"
        sf_creds = load_or_create(sf_creds_path, EmuSfCredentials)
        cmd_creds = load_or_create(cmd_creds_path, CmdCredentials)

        if rows is not None:  # the emulator's process reads them from its state directory
            write_rows_file(self.state_dir / "collaboratemd", rows)
        common = ["--tls-dir", str(tls.ca_cert.parent)]
        self.sf = EmulatorProcess(
            "local.salesforce_emulator",
            [*common, "--state-dir", str(self.state_dir), "--credentials", str(sf_creds_path)],
        ).launch()
        self.cmd = EmulatorProcess(
            "local.collaboratemd_emulator",
            [
                *common,
                "--state-dir",
                str(self.state_dir / "collaboratemd"),
                "--credentials",
                str(cmd_creds_path),
                "--running-polls",
                str(o.running_polls),
            ],
        ).launch()
        sf = self.sf.wait_ready()
        cmd = self.cmd.wait_ready()

        self.endpoints = {
            "state_dir": str(self.state_dir),
            "salesforce": salesforce_endpoints(sf, sf_creds, tls),
            "collaboratemd": {
                "url": cmd["url"],
                "username": cmd_creds.username,
                "password": cmd_creds.password,
                "customer": cmd_creds.customer,
                "report_id": cmd_creds.report_id,
                "filter_id": cmd_creds.filter_id,
                "ca_cert": str(tls.ca_cert),
                "admin_url": cmd["admin_url"],
            },
        }
        seed_payor_mappings(salesforce_gateway(self.endpoints))
        if o.with_aws:
            from local.aws import start_local_aws
            from local.syncworld import (
                MAX_SLEEP_S,
                REAL_TIME_WAITS,
                TIME_SCALE,
                deploy_claim_sync,
                local_settings,
                start_abnormal_end_rule,
            )

            self._saved_env = dict(os.environ)  # the handlers' settings go into os.environ: undone by stop()
            self.aws = start_local_aws(
                port=o.moto_port,
                time_scale=TIME_SCALE,
                max_sleep_s=MAX_SLEEP_S,
                real_time_waits=REAL_TIME_WAITS,
            )
            settings = local_settings(str(tls.ca_cert), **o.sync_overrides)
            self.endpoints["aws"] = deploy_claim_sync(self.aws, self.endpoints, settings)
            self.abnormal_ends = start_abnormal_end_rule(self.aws, self.endpoints["aws"])
            if o.warm_workers:
                self.aws.warm()
        write_private(self.state_dir / ENDPOINTS_FILE, json.dumps(self.endpoints, indent=2))
        return self.endpoints

    def _initial_rows(self) -> list[dict[str, str]] | None:
        o = self.options
        if o.report_file is not None:
            return load_report_file(o.report_file)
        if o.claims is not None:
            return generate_rows(GeneratorSettings(claims=o.claims, seed=o.seed))
        if (self.state_dir / "collaboratemd" / "collaboratemd_rows.json").exists():
            return None  # the emulator serves what it served before the restart
        return generate_rows(GeneratorSettings(claims=DEFAULT_CLAIMS, seed=o.seed))

    def stop(self) -> None:
        if self._lock is None:
            return  # never started, or refused: the directory belongs to another world
        try:
            (self.state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
            if self.abnormal_ends is not None:  # first: executions stopped by the shutdown are not settled
                self.abnormal_ends.stop()
                self.abnormal_ends = None
            if self._saved_env is not None:
                os.environ.clear()
                os.environ.update(self._saved_env)
                self._saved_env = None
            for server in (self.aws, self.cmd, self.sf):
                if server is not None:
                    server.stop()
        finally:
            self.aws = self.cmd = self.sf = None
            self._lock.release()
            self._lock = None


def salesforce_endpoints(
    emulator: dict[str, Any], creds: EmuSfCredentials, tls: TlsMaterial
) -> dict[str, Any]:
    """The ``salesforce`` block of the endpoints line, from the emulator's ready line."""
    return {
        "instance_url": emulator["instance_url"],
        "token_url": emulator["token_url"],
        "username": creds.username,
        "password": creds.password,
        "security_token": creds.security_token,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "ca_cert": str(tls.ca_cert),
        "api_version": SF_API_VERSION,
        "admin_url": emulator["admin_url"],
    }


def salesforce_secret(endpoints: dict[str, Any]) -> dict[str, str]:
    """The Salesforce secret (as stored in Secrets Manager) for the local org: the password grant."""
    sf = endpoints["salesforce"]
    return {
        "grant": "password",
        "token_url": sf["token_url"],
        "client_id": sf["client_id"],
        "client_secret": sf["client_secret"],
        "username": sf["username"],
        "password": sf["password"] + sf.get("security_token", ""),
    }


def salesforce_gateway(endpoints: dict[str, Any], **overrides: str) -> SalesforceGateway:
    """A gateway on the local org; ``overrides`` replace secret keys (e.g. a wrong password in tests)."""
    sf = endpoints["salesforce"]
    creds = SalesforceCredentials.from_secret({**salesforce_secret(endpoints), **overrides})
    return SalesforceGateway(creds, api_version=sf["api_version"], ca_bundle=sf["ca_cert"])


def seed_payor_mappings(gw: SalesforceGateway) -> int:
    """Give the local org the payors and mappings the generator's mapped payers need (idempotent)."""
    existing = {r["Name"]: r["Id"] for r in gw.query_all("SELECT Id, Name FROM Claim_Payor__c")}
    mappings = []
    for payer_id, payer_name in MAPPED_PAYERS:
        payor_id = existing.get(payer_name) or gw.create("Claim_Payor__c", {"Name": payer_name})
        mappings.append(
            {
                "CMD_Payer_Id__c": payer_id,
                "CMD_Payer_Name__c": payer_name,
                "Claim_Payor__c": payor_id,
                "Active__c": True,
            }
        )
    results = gw.collections_upsert("Payor_Mapping__c", "CMD_Payer_Id__c", mappings)
    failed = [r.error_code for r in results if not r.success]
    if failed:
        raise RuntimeError(f"seeding payor mappings failed: {failed}")
    return len(mappings)
