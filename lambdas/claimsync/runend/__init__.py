"""Settle a run that ended abnormally: stopped (ABORTED), TIMED_OUT, or FAILED.

The state machine cleans up after every failure it can catch (``RecordFailure`` ->
``ReleaseLockAfterFailure``). Three ends escape it: ``StopExecution``, the state machine's overall
``TimeoutSeconds``, and ``States.Runtime`` (which no ``Catch`` handles). Each leaves the lock held
until its ``lock_until`` (hours), no run record, and possibly Bulk jobs queued in Salesforce that
would land after a newer run's job and overwrite newer values the checkpoint counts as landed.

``settle`` runs on the execution's "Step Functions Execution Status Change" event (EventBridge in
AWS; the local world delivers the same event itself) and, in this order:

1. waits, if the execution ended while an upload Lambda (StartUpload, CheckUpload) was still
   running -- Step Functions cannot stop a running Lambda; it may still create and close Bulk jobs
   -- until that Lambda saved the run's upload state (its last act), or its timeout passed;
2. aborts the run's Bulk jobs that are not finished (job ids from the run's staged upload state);
3. records the run's end as a RUN item (status, error class, the state it ended in; never a
   value) -- unless a record exists: the state machine's own ``RecordFailure`` (or ``RecordRun``)
   record is more precise and is kept;
4. releases the lock if, and only if, this execution holds it (conditional delete on the owner).

Every step is idempotent: EventBridge delivers at least once, and a retried event finds the jobs
final, the record present and the lock gone or another run's.

Modules: ``event`` (the event, ``ExecutionEnd``), ``activity`` (what the execution was doing when
it ended, from its history; waiting out an upload Lambda), ``settle`` (the Bulk jobs, the run record,
the lock, and ``settle`` itself). The AbnormalEnd handler (``handlers/abnormal_end.py``) calls them.
"""
