"""Text where it enters claimsync: the one rule for strings that are not valid Unicode.

Python strings can hold what UTF-8 cannot encode: lone UTF-16 surrogates (``"\\ud800"``), which
valid JSON produces from an escape (half an emoji, as a UTF-16 system that truncates a name writes
it), and the ``surrogateescape`` stand-ins for bytes that are not UTF-8. Such a string crashes
whatever later writes it as UTF-8 (a staged page, a CSV, an HTTP body). So every entry point checks
text once, where it comes in:

- the claim report reader (``claimsync.report``) replaces the bad code points with U+FFFD and
  remembers the column, so the row is rejected ``INVALID_TEXT`` naming the column and the run goes
  on;
- the CRM API's body parser refuses the request (400).

Everything downstream can then encode every string as strict UTF-8.
"""

from __future__ import annotations

from typing import Final

REPLACEMENT: Final = "\ufffd"


def is_valid(text: str) -> bool:
    """True when ``text`` encodes as UTF-8 (has no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def scrub(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (valid text comes back unchanged)."""
    if is_valid(text):
        return text
    return "".join(REPLACEMENT if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
