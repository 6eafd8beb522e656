"""StartUpload: send the staged claims (Collections or Bulk jobs) (claimsync.steps.upload)."""

from handlers._edge import step_handler

handler = step_handler("StartUpload")
