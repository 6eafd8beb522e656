"""What a claim-sync execution is doing, told from its Step Functions execution history.

``claimsync sync --follow`` (against AWS or the local world) feeds each history event, in order, to a
:class:`~claimsync.progress.tracker.ProgressTracker` and prints what it returns: the run's phases
with their elapsed times, the page count of the Map, waits and retries as they happen. The history
is the only source, so the same code serves both worlds, and a run can be followed again from any
machine that may read it.

Phases, in order (report and payors run in parallel):

========== ===========================================================================
phase      states
========== ===========================================================================
prepare    PrepareRun (InputRejected), AcquireLock (AlreadyRunning), LoadCheckpoint
report     StartReport, WaitForReport, CheckReport, IsReportReady, ReportStaged
payors     LoadPayors
transform  TransformPages (the Map) and its TransformPage iterations
upload     StartUpload, IsUploadPending, WaitForUpload, CheckUpload
finish     FinishRun, IsDryRun, SaveCheckpoint, RecordRun, ReleaseLock, Done, and the failure path
========== ===========================================================================

Only counts, poll intervals and error names/messages are read from the history: the state payloads
carry S3 keys and counts, never claim data, and the error messages of claimsync's exceptions name
codes and operations, never values.

Modules:

- ``updates``: what the tracker reports (``PhaseEnded``, ``Waiting``, ``Retrying``, ``Pages``, ...)
  and the phases in order;
- ``states``: what it knows of the state machine: each state's phase, the failure path, the Wait
  states' texts, and (from the definition) retry limits, wait times and branch ends;
- ``error_texts``: an error of the history as one line an operator reads (also used by the run
  page and ``claimsync sync``);
- ``details``: the one-line detail of a phase, from the outputs of its tasks;
- ``tracker``: :class:`~claimsync.progress.tracker.ProgressTracker`, which puts them together.
"""
