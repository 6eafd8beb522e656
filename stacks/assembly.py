"""The whole app: rule packs, then the three stacks wired together. Used by app.py and the tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aws_cdk as cdk

from stacks import nag
from stacks.api_stack import CrmApiStack
from stacks.config import InfraConfig
from stacks.crm_api import RouteLike
from stacks.shared_stack import SharedStack
from stacks.sync_stack import ClaimSyncStack

# Stack tags (CloudFormation copies them onto every resource that supports tags).
STACK_TAGS = {"project": "claimsync", "data-classification": "phi"}


@dataclass(frozen=True)
class ClaimsyncApp:
    shared: SharedStack
    sync: ClaimSyncStack
    api: CrmApiStack


def crm_routes() -> tuple[RouteLike, ...]:
    from claimsync.crm.routes import ROUTES  # the CRM API's own route table

    return tuple(ROUTES)


def build(app: cdk.App, config: InfraConfig, *, routes: Iterable[RouteLike] | None = None) -> ClaimsyncApp:
    nag.add_rule_packs(app)
    env = cdk.Environment(account=config.account or None, region=config.region or None)
    common = {"env": env, "tags": STACK_TAGS}
    shared = SharedStack(app, config.stack_name("Shared"), config=config, **common)
    sync = ClaimSyncStack(app, config.stack_name("ClaimSync"), config=config, shared=shared, **common)
    api = CrmApiStack(
        app,
        config.stack_name("CrmApi"),
        config=config,
        shared=shared,
        routes=crm_routes() if routes is None else routes,
        **common,
    )
    return ClaimsyncApp(shared=shared, sync=sync, api=api)
