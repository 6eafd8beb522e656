"""Deploy the claim sync into the local AWS (moto): the same resources the CDK stack declares,
created from the same definitions (``claimsync.layout``): table keys, bucket, secrets, one Lambda per
``SYNC_FUNCTIONS`` and ``EVENT_FUNCTIONS`` entry running its real handler in worker processes under
the entry's memory size and timeout (``local/aws/pool.py``), with the settings as its environment, the
state machine from ``statemachine/claim_sync.asl.json`` with the same placeholders filled in, and the
EventBridge rule that sends its abnormal ends to AbnormalEnd (``local/aws/events.py``).
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import replace
from typing import Any

from claimsync import layout
from claimsync.config import SyncSettings, settings_to_env
from local.aws import LocalAws
from local.aws.events import ExecutionStatusRule
from local.connected_app import local_jwt_secret

LOCAL_BUCKET = "claimsync-local-staging"
LOCAL_TABLE = "claimsync-local-sync-state"
SALESFORCE_SECRET = "claimsync/local/salesforce"  # noqa: S105 - a secret name, not a value
COLLABORATEMD_SECRET = "claimsync/local/collaboratemd"  # noqa: S105 - a secret name
STATE_MACHINE_NAME = "claimsync-claim-sync"
FUNCTION_PREFIX = "claimsync-local-"
# Local waits and retry intervals are scaled down; these keep a 100k-claim run in seconds.
TIME_SCALE = 0.02
MAX_SLEEP_S = 0.5
# ...except the wait between Bulk job polls: CheckUpload computes it from the jobs' measured progress in
# the Salesforce emulator, which processes them in real time, so it is slept as asked. Scaled down, one
# well-timed poll would become dozens, and the local world would misreport Salesforce API calls.
REAL_TIME_WAITS = frozenset({"WaitForUpload"})


def local_settings(ca_bundle: str, **overrides: Any) -> SyncSettings:
    base = SyncSettings(
        bucket=LOCAL_BUCKET,
        table=LOCAL_TABLE,
        salesforce_secret_id=SALESFORCE_SECRET,
        collaboratemd_secret_id=COLLABORATEMD_SECRET,
        ca_bundle=ca_bundle,
        # Bulk polls sleep in real time here (REAL_TIME_WAITS): look after a second at the soonest, and
        # expect the emulator's throughput (20,000-24,000 records/s per job, two at a time) before it is measured.
        upload_poll_seconds=1,
        bulk_records_per_second=24_000,
    )
    settings = replace(base, **overrides)
    settings.validate()
    return settings


def apply_settings(aws: LocalAws, settings: SyncSettings) -> None:
    """Give every claim-sync function ``settings`` as its environment; their warm workers are ended,
    so the next invocations are cold starts that read them (as after UpdateFunctionConfiguration).

    The settings also go into this process's environment, with the handlers' caches cleared, for a
    caller that runs a handler in this process (``bench/claim_sync.py``).
    """
    env = settings_to_env(settings)
    for spec in (*layout.SYNC_FUNCTIONS, *layout.EVENT_FUNCTIONS):
        aws.update_function_environment(FUNCTION_PREFIX + spec.name, env)
    _settings_in_process(env)


def _settings_in_process(env: dict[str, str]) -> None:
    from aws_lambda_powertools.utilities import parameters

    from handlers import _edge

    os.environ.update(env)
    for cached in (
        _edge.settings,
        _edge.mapping,
        _edge.aws,
        _edge.staging,
        _edge.salesforce,
        _edge.collaboratemd,
        _edge.report_registry,
    ):
        cached.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # the secrets of another world's emulators must not survive


def _handler(path: str) -> Any:
    module, _, func = path.rpartition(".")
    return getattr(importlib.import_module(module), func)


def deploy_claim_sync(aws: LocalAws, endpoints: dict[str, Any], settings: SyncSettings) -> dict[str, Any]:
    os.environ.update(aws.handler_environment())  # for handlers run in this process (see apply_settings)

    s3 = aws.client("s3")
    s3.create_bucket(Bucket=settings.bucket)
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName=settings.table,
        KeySchema=[
            {"AttributeName": layout.TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": layout.TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": layout.TABLE_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": layout.TABLE_SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=settings.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": layout.TABLE_TTL_ATTRIBUTE},
    )
    secrets = aws.client("secretsmanager")
    cmd = endpoints["collaboratemd"]
    secrets.create_secret(
        Name=settings.salesforce_secret_id,
        # The JWT-bearer grant signed by moto's KMS, as deployed (the password grant stays for seeding).
        SecretString=json.dumps(local_jwt_secret(aws.client("kms"), endpoints)),
    )
    secrets.create_secret(
        Name=settings.collaboratemd_secret_id,
        SecretString=json.dumps(
            {
                "base_url": cmd["url"],
                "username": cmd["username"],
                "password": cmd["password"],
                "customer": cmd["customer"],
                "report_id": cmd["report_id"],
                "filter_id": cmd["filter_id"],
            }
        ),
    )

    substitutions = {layout.TABLE_PLACEHOLDER: settings.table}
    for spec in layout.SYNC_FUNCTIONS:
        substitutions[spec.placeholder] = aws.register_function(
            FUNCTION_PREFIX + spec.name,
            spec.handler,
            timeout_s=spec.timeout_s,
            memory_mb=spec.memory_mb,
            environment=settings_to_env(settings),
        )
    _settings_in_process(settings_to_env(settings))
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=layout.render_asl(substitutions),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/claimsync-local-states",
        type="STANDARD",
    )["stateMachineArn"]
    events = {
        spec.name: aws.register_function(
            FUNCTION_PREFIX + spec.name,
            spec.handler,
            timeout_s=spec.timeout_s,
            memory_mb=spec.memory_mb,
            environment=settings_to_env(settings),
        )
        for spec in layout.EVENT_FUNCTIONS
    }
    return {
        "endpoint_url": aws.endpoint_url,
        "region": aws.region,
        "bucket": settings.bucket,
        "table": settings.table,
        "state_machine_arn": arn,
        "abnormal_end_function": events[layout.ABNORMAL_END_FUNCTION.name],
    }


def start_abnormal_end_rule(aws: LocalAws, deployed: dict[str, Any]) -> ExecutionStatusRule:
    """The stack's EventBridge rule, locally: the state machine's abnormal ends -> AbnormalEnd."""
    return ExecutionStatusRule(
        aws,
        function_name=deployed["abnormal_end_function"],
        state_machine_arns=[deployed["state_machine_arn"]],
        statuses=layout.ABNORMAL_END_STATUSES,
    ).start()
