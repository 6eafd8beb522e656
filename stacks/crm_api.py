"""The CRM REST API: one resource and method per route of ``claimsync.crm.routes.ROUTES``, plus
catch-alls so that every request reaches the Lambda, which owns routing errors.

API Gateway answers a path or method it has no method for itself (403 "Missing Authentication
Token") before any Lambda runs. So that unknown routes get the Lambda's 404 ``NOT_FOUND`` and wrong
methods its 405 ``METHOD_NOT_ALLOWED`` (with ``Allow``), the API also declares catch-all methods,
all Lambda proxy integrations to the same function with the same authorization as the routes:

* ``ANY /{proxy+}`` at the root: any path that matches no declared resource;
* ``ANY`` on the root and on every declared resource (including intermediate ones such as
  ``/batch``): a declared path with a method it does not declare. API Gateway prefers the
  explicit methods, so ``ANY`` only sees the others; the root ``{proxy+}`` is not relied on for a
  path that matches a declared resource.

Catch-alls are recognisable by method ``ANY`` or a ``{proxy+}`` path (``is_catch_all``); every
other method is exactly one ``ROUTES`` entry. Gateway responses give the errors API Gateway still
answers itself (unsigned or refused requests, throttling, its own 5xx) the project's JSON envelope.

Every method requires IAM (SigV4) authorization by default; ``api_auth: "api_key"`` switches to API
keys with a usage plan. Request bodies are validated by the Lambda (Powertools), which owns the
contract.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import nag
from stacks.config import InfraConfig

STAGE_NAME = "v1"
# One JSON line per request; identifiers, status and timings only (never bodies or query strings).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
    "sourceIp": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "apiKeyId": "$context.identity.apiKeyId",
}


PROXY_PATH_PART = "{proxy+}"
CATCH_ALL_METHOD = "ANY"


def is_catch_all(method: str, path: str) -> bool:
    """A catch-all method (routing fallback to the Lambda), as opposed to one ``ROUTES`` entry."""
    return method.upper() == CATCH_ALL_METHOD or PROXY_PATH_PART in path


# The gateway's own errors in the API's envelope. error_code is one of the API's codes where one fits;
# error is the message API Gateway would have sent anyway (JSON-quoted by $context.error.messageString),
# which callers need to debug SigV4 signing; it goes to the caller only, never into the access logs.
def _envelope(error_code: str) -> str:
    return (
        '{"success": false, "error": $context.error.messageString, '
        f'"error_code": "{error_code}", "timestamp": "$context.requestTime"}}'
    )


# (response type, status to answer or None to keep API Gateway's, error_code)
GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, str | None, str], ...] = (
    # Unsigned / wrongly signed / not allowed to execute-api:Invoke / missing or bad API key.
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "403", "AUTH_ERROR"),
    (apigw.ResponseType.INVALID_SIGNATURE, "403", "AUTH_ERROR"),
    (apigw.ResponseType.EXPIRED_TOKEN, "403", "AUTH_ERROR"),
    (apigw.ResponseType.ACCESS_DENIED, "403", "AUTH_ERROR"),
    (apigw.ResponseType.INVALID_API_KEY, "403", "AUTH_ERROR"),
    # Stage throttling and the usage plan's quota.
    (apigw.ResponseType.THROTTLED, "429", "RATE_LIMITED"),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "RATE_LIMITED"),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "PAYLOAD_TOO_LARGE"),
    # Every other 4xx/5xx API Gateway produces itself (the Lambda's own answers are not affected).
    (apigw.ResponseType.DEFAULT_4_XX, None, "REQUEST_REJECTED"),
    (apigw.ResponseType.DEFAULT_5_XX, None, "INTERNAL_ERROR"),
)


class RouteLike(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...


class CrmRestApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        routes: Iterable[RouteLike],
        function: lambda_.IFunction,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        config: InfraConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        api_key_mode = config.api_auth == "api_key"
        cors = (
            apigw.CorsOptions(
                allow_origins=list(config.api_cors_origins),
                allow_methods=sorted({route.method.upper() for route in routes}),
                allow_headers=[
                    "Content-Type",
                    "Authorization",
                    "X-Amz-Date",
                    "X-Amz-Security-Token",
                    "X-Api-Key",
                    "Idempotency-Key",
                ],
            )
            if config.api_cors_origins
            else None
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=name,
            description="claimsync CRM API: Salesforce Accounts, Contacts, Opportunities, SOQL",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=config.api_manage_cloudwatch_role,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.NONE
                if api_key_mode
                else apigw.AuthorizationType.IAM,
                api_key_required=api_key_mode,
            ),
            default_cors_preflight_options=cors,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=config.api_throttle_rate,
                throttling_burst_limit=config.api_throttle_burst,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log request and response bodies: PHI
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        # API Gateway creates its execution-log group on first use, unencrypted and kept forever:
        # create it first, with the project's retention and key.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{STAGE_NAME}",
            retention=log_retention,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.api.deployment_stage.node.add_dependency(self.execution_logs)

        integration = apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)
        declared: dict[str, apigw.IResource] = {"/": self.api.root}  # path -> resource
        for route in routes:
            self.api.root.resource_for_path(route.path).add_method(route.method.upper(), integration)
            parts = route.path.strip("/").split("/")
            for depth in range(1, len(parts) + 1):  # the route's resource and those above it
                path = "/" + "/".join(parts[:depth])
                declared[path] = self.api.root.resource_for_path(path)
        # Catch-alls (see the module docstring): same integration, same default method options
        # (authorization) as the routes.
        for resource in declared.values():
            resource.add_method(CATCH_ALL_METHOD, integration)
        self.proxy = self.api.root.add_proxy(default_integration=integration, any_method=True)
        self._add_gateway_responses(config.api_cors_origins)

        if api_key_mode:
            plan = self.api.add_usage_plan(
                "UsagePlan",
                name=f"{name}-default",
                throttle=apigw.ThrottleSettings(
                    rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst
                ),
                quota=apigw.QuotaSettings(limit=config.api_quota_per_day, period=apigw.Period.DAY),
            )
            plan.add_api_stage(stage=self.api.deployment_stage)
            plan.add_api_key(
                self.api.add_api_key("DefaultKey", description="claimsync CRM API default client key")
            )
        self._acknowledge(api_key_mode)

    def _add_gateway_responses(self, cors_origins: Iterable[str]) -> None:
        headers = {"Content-Type": "'application/json'"}
        origins = list(cors_origins)
        if len(origins) == 1:  # a browser can read the error too (several origins need the Lambda's echo)
            headers["Access-Control-Allow-Origin"] = f"'{origins[0]}'"
        for response_type, status, error_code in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type.title().replace('_', '')}",
                type=response_type,
                status_code=status,
                response_headers=headers,
                templates={"application/json": _envelope(error_code)},
            )

    def _acknowledge(self, api_key_mode: bool) -> None:
        nag.acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "Request bodies are validated by the CRM Lambda (one schema per route, VALIDATION_ERROR envelope); "
            "API Gateway models would duplicate that contract in a second place.",
        )
        nag.acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "Regional API for a handful of internal system clients, authenticated (SigV4 or API key) and "
            "throttled per stage; a WAF web ACL can be attached later without changing the API.",
        )
        nag.acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "Callers are systems, not end users: methods use IAM (SigV4) authorization, or API keys with a "
            "usage plan when api_auth is api_key; there is no Cognito user pool.",
        )
        nag.acknowledge(
            self.api,
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
            "No API cache: responses hold live Salesforce records that must not be served stale or kept in a "
            "cache outside the KMS-encrypted stores.",
        )
        nag.acknowledge(
            self.api,
            "HIPAA.Security-APIGWSSLEnabled",
            "The backend is a Lambda proxy integration, not an HTTP endpoint: there is no backend TLS hop for "
            "a client certificate to authenticate.",
        )
        if api_key_mode:
            nag.acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                "api_auth is api_key in cdk.json: every method requires an API key bound to a throttled usage plan "
                "with a daily quota (IAM authorization is the default).",
            )
        role = self.api.node.try_find_child("CloudWatchRole")
        if role is not None:
            nag.acknowledge(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level role API Gateway uses to write execution and access logs; AWS maintains the "
                "managed policy for exactly that purpose.",
            )
