"""Salesforce: OAuth login, REST sObjects, SOQL, sObject Collections and Bulk API 2.0.

One external system, three modules (as simple-salesforce splits ``api``, ``login`` and
``exceptions``), used by the claim sync and by the CRM API alike:

- :mod:`claimsync.salesforce.gateway` — ``SalesforceGateway``, a logged-in org. The one place where
  HTTP to Salesforce happens is its ``_request`` (the token request of a login and every API call go
  through it); ``_send`` adds the session, the body encoding and the one re-login on an expired session.
- :mod:`claimsync.salesforce.auth` — ``SalesforceCredentials`` read from the secret, and the token
  request each OAuth grant makes (password, client credentials, JWT bearer signed by KMS).
- :mod:`claimsync.salesforce.errors` — the exceptions, and the one table from a Salesforce error code
  (or HTTP status) to a local exception (``error_for``).

PHI rule: Salesforce error messages can echo field values (``STRING_TOO_LONG`` does), and URLs of
queries carry SOQL literals. So exceptions raised here keep Salesforce's own message in
``SalesforceError.detail`` (for an API caller who sent the value) and never put it, or a URL, in
``str(exc)``. Log ``exc.code`` — never ``exc.detail``.

This module holds only the API version, so that settings can name it without importing HTTP code.
"""

from __future__ import annotations

# The Salesforce API version every call of this project uses (REST, SOQL, Collections, Bulk API 2.0):
# the one place it is written. The sfdx metadata (salesforce/sfdx-project.json ``sourceApiVersion``)
# agrees with it (a test checks); a deployment may override it (cdk.json ``sync.salesforce_api_version``).
API_VERSION = "62.0"
API_VERSION_PATTERN = r"\d{2,3}\.0"  # what a deployment's override must look like ("62.0", not "v62")
