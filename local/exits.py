"""Exit codes of the ``claimsync`` command line, and the one exception that carries them.

Every error a command can foresee becomes a :class:`CliError`: ``main`` prints its message as one
line on stderr (``error: ...``) and exits with its code. The table below is printed by
``claimsync --help`` and documented in docs/runbook.md (a test keeps the two equal).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    ALREADY_RUNNING = 3
    INPUT = 4
    NOT_FOUND = 5
    AWS = 6
    BUSY = 7
    DEADLINE = 8
    LOCK_HELD = 9
    INTERNAL = 70
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done; a run ended SUCCEEDED, PARTIAL (rejects and failures are in its report) or DRY_RUN",
    ExitCode.RUN_FAILED: "the run ended FAILED, TIMED_OUT or ABORTED",
    ExitCode.USAGE: "invalid command line (unknown flag, negative --claims, port outside 0-65535, ...)",
    ExitCode.ALREADY_RUNNING: "the run was refused: another run holds the lock (the message names it and its expiry)",
    ExitCode.INPUT: "a file named on the command line is missing, unreadable or not valid",
    ExitCode.NOT_FOUND: "no local world is running, or the stack or run does not exist",
    ExitCode.AWS: "no AWS region or credentials, access denied, or AWS unreachable",
    ExitCode.BUSY: "the port or the state directory is in use by another process",
    ExitCode.DEADLINE: "stopped waiting for a run (--timeout); the run goes on",
    ExitCode.LOCK_HELD: "unlock refused: the run holding the lock is still running",
    ExitCode.INTERNAL: "an unexpected error (a bug): CLAIMSYNC_DEBUG=1 shows the traceback",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); a started run goes on",
}


def exit_code_table() -> str:
    """The table for ``--help`` (plain text, one code per line)."""
    return "\n".join(f"  {int(code):>3}  {MEANINGS[code]}" for code in ExitCode)


class CliError(Exception):
    """A foreseen error: one line for the operator and the exit code that classifies it."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
