"""The claim-sync lock item: read it, and release it only on behalf of its owner.

The state machine takes the lock (``AcquireLock``, a conditional put) and releases it
(``ReleaseLock*``, a conditional delete on the owner) through DynamoDB direct integrations. Code
outside the state machine -- the AbnormalEnd function, ``claimsync unlock``, the CLI explaining a
refused run -- uses these functions over an injected boto3 DynamoDB client, with the same item keys
(``claimsync.layout``) and the same ownership rule: only the owner's name releases it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from claimsync import layout

_KEY = {
    layout.TABLE_PARTITION_KEY: {"S": layout.LOCK_PK},
    layout.TABLE_SORT_KEY: {"S": layout.LOCK_SK},
}


@dataclass(frozen=True)
class Lock:
    owner: str  # the execution name (= run id) of the run that took it
    lock_until: int  # epoch seconds; past it, the next run takes the lock over

    @property
    def lock_until_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.lock_until, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_lock(dynamodb: Any, table: str) -> Lock | None:
    """The lock item (strongly consistent read), or ``None`` when no run holds it."""
    item = dynamodb.get_item(TableName=table, Key=_KEY, ConsistentRead=True).get("Item")
    if not item:
        return None
    return Lock(owner=item["owner"]["S"], lock_until=int(item["lock_until"]["N"]))


def release_lock(dynamodb: Any, table: str, owner: str, *, lock_until: int | None = None) -> bool:
    """Delete the lock if ``owner`` holds it (and, when given, it is still the one valid until
    ``lock_until``). True when this call deleted it; False when the lock was absent or another's."""
    condition = "#owner = :me"
    names = {"#owner": "owner"}
    values: dict[str, Any] = {":me": {"S": owner}}
    if lock_until is not None:
        condition += " AND lock_until = :until"
        values[":until"] = {"N": str(lock_until)}
    try:
        dynamodb.delete_item(
            TableName=table,
            Key=_KEY,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
