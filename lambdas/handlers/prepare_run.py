"""PrepareRun: check the execution input; fix the run's id, clock, lock and record expiry (claimsync.steps.run)."""

from handlers._edge import step_handler

handler = step_handler("PrepareRun")
