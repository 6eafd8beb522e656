"""Operator verbs against a claim sync: start a run, follow it, list runs, fetch a run's reports.

Domain functions over boto3 clients passed in (the CLI builds them; tests pass moto's). The same
functions serve a deployed stack and the local world: only the clients' endpoint and the
:class:`~claimsync.operator.deployment.Deployment` differ. A deployed stack is found through its
CloudFormation outputs, so an operator only needs the stack name (default ``Claimsync-ClaimSync``)
and read access to it; the local world's endpoints file names the same three resources.

One module per question an operator asks:

- ``deployment``: which state machine, bucket and table (``find_deployment``); ``OperatorError``
  for what the operator can fix.
- ``execution`` (``claimsync sync``): start one execution of the state machine, named (the run id),
  with input ``{}``, ``{"full_sync": true}`` or ``{"dry_run": true}``; follow its history
  (``follow_execution``), count its state transitions (``history_stats``) and read its outcome
  (``run_outcome``).
- ``runs`` (``claimsync runs``, ``claimsync failures``): the run records in the sync table
  (``pk = "RUN"``), newest first, with the runs still going; a run's ``failures.csv`` and
  ``rejects.csv`` from ``reports/<run_id>/`` in S3.
- ``lock`` (``claimsync unlock``): remove the lock of a run that has ended (owner-conditional);
  ``refusal_line`` names the lock's holder for a run that ended ALREADY_RUNNING; ``lock_outcome``
  follows a started run until it holds the lock or is refused.
- ``claim`` (``claimsync claim``): one claim's story over the last runs, from each run's claim
  index (``reports/<run_id>/claims/<page>.json``, sharded like the snapshot: ``claim_page``), and
  the claim's record in Salesforce now (``salesforce_claim``: one SOQL query).
"""
