"""Local AWS for claimsync: moto in server mode running the real ASL, Lambdas run in worker processes
under their memory size and timeout.

See README.md in this directory for what moto's Step Functions interpreter does and does not do.
"""

from local.aws.lambda_worker import LambdaContext
from local.aws.pool import Report
from local.aws.runtime import (
    LAMBDA_LOGGER,
    Handler,
    LocalAws,
    SleepRecord,
    execution_summary,
    follow_execution,
    print_lambda_logs,
    start_local_aws,
    wait_for_execution,
)

__all__ = [
    "LAMBDA_LOGGER",
    "Handler",
    "LambdaContext",
    "LocalAws",
    "Report",
    "SleepRecord",
    "execution_summary",
    "follow_execution",
    "print_lambda_logs",
    "start_local_aws",
    "wait_for_execution",
]
