"""StartReport: start the CollaborateMD report, or adopt one an earlier run left running (claimsync.steps.report)."""

from handlers._edge import step_handler

handler = step_handler("StartReport")
