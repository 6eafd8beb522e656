"""CheckUpload: poll the open Bulk jobs; when done, collect failures, resubmit transient ones (claimsync.steps.upload)."""

from handlers._edge import step_handler

handler = step_handler("CheckUpload")
