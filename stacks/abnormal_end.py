"""Abnormal ends heal themselves: state machine status change (ABORTED, TIMED_OUT, FAILED) -> EventBridge
rule -> AbnormalEnd (asynchronous, retried) -> dead-letter queue and an alarm when all else fails.

AbnormalEnd (lambdas/handlers/abnormal_end.py) aborts the run's unfinished Bulk jobs, records the
run's end and releases the lock if that run holds it. Its access is exactly that: read the run's
staged upload state, read the execution's history, write RUN items and delete the LOCK item of the
sync table, read the Salesforce secret.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from claimsync import layout
from stacks import nag
from stacks.alerting import Alarms
from stacks.functions import LambdaDefaults, function_from_spec
from stacks.monitoring import FIVE_MINUTES, function_alarms

# Lambda's asynchronous retries (EventBridge invokes asynchronously): 2 more attempts, 1 and 2 min
# apart -- also what brings an event back when an upload Lambda still ran past one invocation.
ASYNC_RETRIES = 2
MAX_EVENT_AGE = cdk.Duration.hours(6)
# EventBridge's own retries, when it cannot hand the event to Lambda at all.
RULE_TARGET_RETRIES = 8
RULE_TARGET_MAX_EVENT_AGE = cdk.Duration.hours(2)
DLQ_RETENTION = cdk.Duration.days(14)
UPLOAD_STATE_KEYS = layout.upload_state_key("*")  # runs/*/upload/state.json
ITEM_KEYS = (layout.RUN_PK, layout.LOCK_PK)  # the partition keys AbnormalEnd writes or deletes


class AbnormalEndHandling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        state_machine_name: str,
        defaults: LambdaDefaults,
        environment: Mapping[str, str],
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        key: kms.IKey,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        spec = layout.ABNORMAL_END_FUNCTION

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        fn = function_from_spec(
            self,
            spec,
            defaults=defaults,
            environment=environment,
            description=f"claimsync {spec.name}: settles stopped, timed-out and failed runs",
            dead_letter_queue=self.dead_letters,
        )
        self.function = fn.function
        self.function.configure_async_invoke(retry_attempts=ASYNC_RETRIES, max_event_age=MAX_EVENT_AGE)

        # The run's upload state (job ids; GetObject also covers HeadObject, its last-modified time).
        # ListBucket makes a missing state 404 instead of 403; S3 decides that without a prefix in the
        # request, so the permission cannot be narrowed by s3:prefix.
        iam.Grant.add_to_principal(
            grantee=fn.role,
            actions=["s3:GetObject"],
            resource_arns=[bucket.arn_for_objects(UPLOAD_STATE_KEYS)],
        )
        iam.Grant.add_to_principal(
            grantee=fn.role, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
        )
        # RUN records and the LOCK item only (the checkpoint is the state machine's alone).
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
                resources=[table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": list(ITEM_KEYS)}},
            )
        )
        key.grant_encrypt_decrypt(fn.role)  # the KMS-encrypted table, bucket and dead-letter queue
        execution_arns = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:GetExecutionHistory"], resources=[execution_arns])
        )

        self.rule = events.Rule(
            self,
            "Rule",
            description="claimsync: a claim-sync run stopped, timed out or failed -> AbnormalEnd",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[layout.EXECUTION_STATUS_CHANGE],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": list(layout.ABNORMAL_END_STATUSES),
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=RULE_TARGET_RETRIES,
                    max_event_age=RULE_TARGET_MAX_EVENT_AGE,
                )
            ],
        )

        self.alarms = Alarms(self, topic)
        self.alarms.add(
            "Unsettled",
            self.dead_letters.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            description=(
                "An abnormal end could not be settled (AbnormalEnd failed on every attempt, or the event could "
                "not be delivered): the run's lock may be held and its Bulk jobs queued. Run `claimsync unlock` "
                "and check the run's jobs in Salesforce."
            ),
        )
        function_alarms(self.alarms, spec.name, self.function)

        role = fn.role
        for wildcard in ("Action::kms:ReEncrypt*", "Action::kms:GenerateDataKey*"):
            nag.acknowledge(
                role,
                f"AwsSolutions-IAM5[{wildcard}]",
                "AbnormalEnd writes items of the KMS-encrypted sync table and reads the encrypted staging bucket "
                "and dead-letter queue: CDK's grant_encrypt_decrypt on the project key, the one key of them all.",
            )
        nag.acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(bucket)}.Arn>/{UPLOAD_STATE_KEYS}]",
            "Only each run's staged upload state (Bulk job ids); run ids are created at run time, so the key has "
            "a wildcard for the run id and nothing else.",
        )
        nag.acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"{state_machine_name}:*]",
            "Reads the history of the claim-sync state machine's executions only; execution names are run ids "
            "created at run time.",
        )


def _logical_id(construct: IConstruct) -> str:
    return cdk.Stack.of(construct).get_logical_id(construct.node.default_child)  # type: ignore[arg-type]
