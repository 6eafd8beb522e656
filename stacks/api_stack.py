"""CRM API stack: API Gateway REST API -> one Lambda (Powertools REST handler) -> Salesforce."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stacks.alerting import Alarms
from stacks.config import InfraConfig
from stacks.crm_api import STAGE_NAME, CrmApiState, CrmRestApi, RouteLike
from stacks.functions import LambdaDefaults, ProjectFunction
from stacks.monitoring import FIVE_MINUTES, function_alarms
from stacks.shared_stack import SharedStack
from stacks.sync_stack import powertools_environment

# The entry point lambdas/handlers/crm_api.py defines (tests/infra/test_bundle.py imports it from the bundle).
CRM_HANDLER = "handlers.crm_api.lambda_handler"
OUTPUT_API_URL = "CrmApiUrl"


class CrmApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        shared: SharedStack,
        routes: Iterable[RouteLike],
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description="claimsync CRM API (Salesforce over REST)", **kwargs
        )
        defaults = LambdaDefaults.from_config(config, shared.key)
        self.state = CrmApiState(self, "State", key=shared.key, prefix=config.stack_prefix)
        self.handler = ProjectFunction(
            self,
            "CrmApi",
            defaults=defaults,
            handler=CRM_HANDLER,
            description=f"claimsync CRM API ({CRM_HANDLER})",
            memory_mb=512,
            timeout=cdk.Duration.seconds(29),  # API Gateway's integration timeout
            environment={
                "CLAIMSYNC_SALESFORCE_SECRET_ID": shared.secrets.salesforce.secret_arn,
                "CLAIMSYNC_SALESFORCE_API_VERSION": config.salesforce_api_version,
                "CRM_CURSOR_SECRET_ID": self.state.cursor_key.secret_arn,
                "CRM_IDEMPOTENCY_TABLE": self.state.idempotency_table.table_name,
                **powertools_environment(),
                **config.crm_environment,
            },
            reserved_concurrency=config.crm_reserved_concurrency,
        )
        shared.secrets.grant_read(shared.secrets.salesforce, self.handler.function)
        self.state.grant(self.handler.function)
        self.rest = CrmRestApi(
            self,
            "Rest",
            name=f"{config.stack_prefix}-crm",
            routes=list(routes),
            function=self.handler.function,
            key=shared.key,
            log_retention=defaults.log_retention,
            config=config,
        )
        alarms = Alarms(self, shared.alarm_topic)
        alarms.add(
            "Api5xx",
            self.rest.api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            description="The CRM API answered 5xx (Lambda error, timeout or Salesforce failure).",
        )
        function_alarms(alarms, "CrmApi", self.handler.function)
        self.alarms = alarms
        cdk.CfnOutput(self, OUTPUT_API_URL, value=self.rest.api.url_for_path("/"))
        cdk.CfnOutput(self, "CrmApiStage", value=STAGE_NAME)
