"""CheckReport: poll the report once; when ready, stage its rows as pages (claimsync.steps.report)."""

from handlers._edge import step_handler

handler = step_handler("CheckReport")
