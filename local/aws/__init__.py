"""Local AWS for claimsync: moto in server mode running the real ASL, Lambdas dispatched in-process.

See README.md in this directory for what moto's Step Functions interpreter does and does not do.
"""

from local.aws.runtime import (
    Handler,
    LambdaContext,
    LocalAws,
    SleepRecord,
    execution_summary,
    follow_execution,
    start_local_aws,
    wait_for_execution,
)

__all__ = [
    "Handler",
    "LambdaContext",
    "LocalAws",
    "SleepRecord",
    "execution_summary",
    "follow_execution",
    "start_local_aws",
    "wait_for_execution",
]
