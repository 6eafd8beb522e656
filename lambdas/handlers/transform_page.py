"""TransformPage: one Map iteration — transform a page, compare, stage the changes (claimsync.steps.page)."""

from handlers._edge import step_handler

handler = step_handler("TransformPage")
