"""LoadPayors: stage the active payor mappings (claimsync.steps.payors)."""

from handlers._edge import step_handler

handler = step_handler("LoadPayors")
