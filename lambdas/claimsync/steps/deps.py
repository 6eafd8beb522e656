"""What a step is handed: settings, the mapping, clients, and the time. Nothing else reaches a step.

The Lambda edge (``handlers._edge``) provides them lazily and caches them per execution environment;
unit tests provide in-memory fakes (``tests/unit/fakes.py``). ``now`` is read once per invocation.
"""

from __future__ import annotations

from typing import Protocol

from claimsync.collaboratemd import CollaborateMDClient
from claimsync.config import SyncSettings
from claimsync.mapping import ClaimMapping
from claimsync.report_registry import ReportRegistry
from claimsync.salesforce.gateway import SalesforceGateway
from claimsync.staging import Staging


class Deps(Protocol):
    @property
    def settings(self) -> SyncSettings: ...

    @property
    def mapping(self) -> ClaimMapping: ...

    @property
    def staging(self) -> Staging: ...

    @property
    def salesforce(self) -> SalesforceGateway: ...

    @property
    def collaboratemd(self) -> CollaborateMDClient: ...

    @property
    def reports(self) -> ReportRegistry: ...

    @property
    def now(self) -> float: ...
