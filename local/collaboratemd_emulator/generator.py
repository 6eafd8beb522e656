"""Deterministic synthetic claims in the customer's CollaborateMD report format.

Every value is a string, as the real report delivers it. The same ``GeneratorSettings`` always give
byte-identical rows (one ``random.Random`` seeded from the settings, draws in a fixed order), so the
demo, the benchmarks and the tests can reason about exact counts.

What the rows contain, on purpose:

- realistic variety: amounts plain (``1000``, ``1000.5``), fixed (``1000.50``) or formatted
  (``$1,867.99``, negatives as ``(25.00)``); dates as ``MM/DD/YYYY``, ``M/D/YYYY``, ``YYYY-MM-DD`` or
  ISO ``2024-01-01T00:00:00.000Z``; ``PaymentReceived`` empty for unpaid claims; balance = total - paid;
- ``malformed_share`` rows that a validator must reject (see ``MALFORMED_KINDS``);
- ``duplicate_share`` rows that repeat an earlier ``ClaimID`` further down with changed values;
- ``unmapped_share`` rows whose payer is outside ``MAPPED_PAYERS``.

The three sets are disjoint and their sizes are exact (``round(claims * share)``). Names, numbers and
payers are synthetic: small lists of common names combined at random, fictional payer names.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

COLUMNS: tuple[str, ...] = (
    "ClaimID",
    "PateintNameID",
    "PatientReference",
    "PayerID",
    "ClaimPrimaryPayerName",
    "PrimaryAuth",
    "StatementCoversFromDate",
    "StatementCoversToDate",
    "ClaimFromDate",
    "ClaimDateEntered",
    "ClaimLastBilledDate",
    "ClaimTotalAmount",
    "ClaimAmountPaid",
    "ClaimBalance",
    "PaymentReceived",
    "PaymentCheck",
    "ClaimReference",
    "UniqueKey",
    "createdAt",
    "updatedAt",
)

# (payer_id, payer_name) as CollaborateMD shows them. Fictional names.
PAYERS: tuple[tuple[str, str], ...] = (
    ("10101", "Medicare Part B (Demo Region)"),
    ("10202", "State Medicaid Program (Demo)"),
    ("20310", "Northwind Health Plan"),
    ("20422", "Bluebird Mutual Insurance"),
    ("20537", "Summit Care Alliance"),
    ("20648", "Harborview Health Partners"),
    ("20759", "Evergreen Medical Assurance"),
    ("20861", "Lakeside Benefit Administrators"),
    ("20972", "Pioneer Family Health"),
    ("31083", "Granite State Indemnity"),
    ("31194", "Riverbend Employee Benefits"),
    ("31205", "Coastal Preferred Providers"),
    ("31316", "Prairie Life and Health"),
    ("31427", "Sunrise Senior Advantage"),
    ("31538", "Keystone Workers Compensation"),
    ("42649", "Redwood Select PPO"),
    ("42750", "Maple Leaf HMO"),
    ("42861", "Cedar Valley Health Cooperative"),
    ("42972", "TriCounty Auto Insurance PIP"),
    ("43083", "Silverline Supplemental"),
    # Not mapped in the local Salesforce: rows with these payers cannot be linked to a payor record.
    ("SP001", "Self Pay"),
    ("53194", "Orchard Regional Health Plan"),
    ("53205", "Blue Harbor Dental"),
    ("53316", "Frontier Travel Medical"),
    ("53427", "Westgate Vision Benefits"),
)
MAPPED_PAYERS: tuple[tuple[str, str], ...] = PAYERS[:20]
UNMAPPED_PAYERS: tuple[tuple[str, str], ...] = PAYERS[20:]

MALFORMED_KINDS: tuple[str, ...] = (
    "missing_claim_id",
    "long_claim_id",
    "impossible_date",
    "garbage_amount",
    "end_before_start",
    "long_patient_name",
)

_LAST_NAMES = (
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
    "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR", "MOORE",
    "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ", "CLARK", "RAMIREZ",
    "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT", "SCOTT", "TORRES", "NGUYEN",
    "HILL", "FLORES",
)  # fmt: skip
_FIRST_NAMES = (
    "JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA", "DAVID",
    "ELIZABETH", "WILLIAM", "BARBARA", "RICHARD", "SUSAN", "JOSEPH", "JESSICA", "THOMAS", "SARAH",
    "CHARLES", "KAREN", "CARLOS", "LUCIA", "DANIEL", "NANCY", "MATTHEW", "LISA", "ANTHONY", "BETTY",
    "MARK", "MARGARET", "JOSE", "SANDRA", "PAUL", "ASHLEY", "STEVEN", "EMILY", "ANDREW", "DONNA",
    "KEVIN", "MICHELLE",
)  # fmt: skip

_BASE_DATE = dt.date(2023, 1, 1)
_SERVICE_SPAN_DAYS = 730
_CACHED_DAYS = 900  # every date the main loop produces lies within this many days of _BASE_DATE
_TIME_POOL = 4096  # createdAt/updatedAt times of day are drawn from a pool this large

# Date styles: index into the formatters below; chosen per row with these cumulative weights.
_DATE_STYLE_CUMULATIVE = (0.55, 0.70, 0.85, 1.0)  # MM/DD/YYYY, M/D/YYYY, YYYY-MM-DD, ISO Z
# Amount styles: plain minimal, fixed two decimals, formatted with $ and thousands separators.
_AMOUNT_STYLE_CUMULATIVE = (0.5, 0.7, 1.0)


@dataclass(frozen=True)
class GeneratorSettings:
    claims: int = 1000
    seed: int = 42
    malformed_share: float = 0.02
    duplicate_share: float = 0.01
    unmapped_share: float = 0.05

    def __post_init__(self) -> None:
        if isinstance(self.claims, bool) or not isinstance(self.claims, int) or self.claims < 0:
            raise ValueError("claims must be a non-negative integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError("seed must be an integer")
        shares = (self.malformed_share, self.duplicate_share, self.unmapped_share)
        for name, value in zip(("malformed_share", "duplicate_share", "unmapped_share"), shares, strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1")
        if sum(shares) > 1.0:
            raise ValueError("malformed_share + duplicate_share + unmapped_share must not exceed 1")

    @property
    def duplicate_count(self) -> int:
        return round(self.claims * self.duplicate_share)

    @property
    def malformed_count(self) -> int:
        return round(self.claims * self.malformed_share)

    @property
    def unmapped_count(self) -> int:
        return round(self.claims * self.unmapped_share)


@dataclass
class GeneratedReport:
    """The rows plus what the generator put into them (indexes into ``rows``), for exact assertions."""

    rows: list[dict[str, str]]
    malformed: dict[int, str] = field(default_factory=dict)  # row index -> MALFORMED_KINDS entry
    duplicates: list[int] = field(default_factory=list)  # indexes of rows repeating an earlier ClaimID
    unmapped: list[int] = field(default_factory=list)  # indexes of rows with a payer outside the mapping


def generate_rows(settings: GeneratorSettings) -> list[dict[str, str]]:
    """The report rows for ``settings`` (deterministic)."""
    return generate_report(settings).rows


def generate_report(settings: GeneratorSettings) -> GeneratedReport:
    """The report rows for ``settings`` with the indexes of the malformed, duplicate and unmapped rows."""
    n = settings.claims
    dup_count = settings.duplicate_count
    mal_count = settings.malformed_count
    unm_count = settings.unmapped_count
    if dup_count and dup_count >= n - mal_count - unm_count:
        raise ValueError("too many duplicates: each needs an earlier valid claim to repeat")
    originals = n - dup_count

    rng = random.Random(f"claimsync-cmd:{settings.seed}")
    rnd = rng.random

    # Which originals are malformed (kind) or unmapped: exact sizes, random positions.
    special = rng.sample(range(originals), mal_count + unm_count)
    malformed_at = {idx: j % len(MALFORMED_KINDS) for j, idx in enumerate(special[:mal_count])}
    unmapped_at = set(special[mal_count:])

    # Patients: about three claims each.
    patient_count = max(1, n // 3 + 1)
    nl, nf = len(_LAST_NAMES), len(_FIRST_NAMES)
    patients = [
        (
            f"{_LAST_NAMES[int(rnd() * nl)]}, {_FIRST_NAMES[int(rnd() * nf)]}",
            str(200000 + i),
            f"MRN{int(rnd() * 10_000_000):07d}",
        )
        for i in range(patient_count)
    ]

    base_ord = _BASE_DATE.toordinal()
    days = [dt.date.fromordinal(base_ord + i) for i in range(_CACHED_DAYS)]
    styled = (
        [f"{d.month:02d}/{d.day:02d}/{d.year:04d}" for d in days],
        [f"{d.month}/{d.day}/{d.year:04d}" for d in days],
        [d.isoformat() for d in days],
        [f"{d.isoformat()}T00:00:00.000Z" for d in days],
    )
    iso_prefix = [f"{d.isoformat()}T" for d in days]
    times = [_time_of_day(int(rnd() * 86_400_000)) for _ in range(_TIME_POOL)]
    ds1, ds2, ds3 = _DATE_STYLE_CUMULATIVE[:3]
    as1, as2 = _AMOUNT_STYLE_CUMULATIVE[:2]
    mapped_n, unmapped_n = len(MAPPED_PAYERS), len(UNMAPPED_PAYERS)

    claim_number = 40_000_000
    rows: list[dict[str, str]] = []
    append = rows.append
    for i in range(originals):
        claim_number += 1 + int(rnd() * 4)
        claim_id = str(claim_number)
        patient_name, patient_id, mrn = patients[int(rnd() * patient_count)]
        if i in unmapped_at:
            payer_id, payer_name = UNMAPPED_PAYERS[int(rnd() * unmapped_n)]
        else:
            payer_id, payer_name = MAPPED_PAYERS[int(rnd() * mapped_n)]

        r = rnd()
        date_style = 0 if r < ds1 else 1 if r < ds2 else 2 if r < ds3 else 3
        fmt = styled[date_style]
        start = int(rnd() * _SERVICE_SPAN_DAYS)
        end = start if rnd() < 0.7 else start + 1 + int(rnd() * 5)
        entered = end + 1 + int(rnd() * 20)
        billed = entered if rnd() < 0.6 else entered + 1 + int(rnd() * 30)

        total = 5_000 + int(rnd() * rnd() * 495_000)  # cents, skewed towards small claims
        r = rnd()
        if r < 0.3:
            total -= total % 100  # whole dollars
        elif r < 0.4:
            total -= total % 10
        r = rnd()
        if r < 0.3:
            paid = 0
        elif r < 0.55:
            paid = int(total * (0.3 + 0.6 * rnd()))
        elif r < 0.99:
            paid = total
        else:
            paid = total + 500 + int(rnd() * 4_500)  # overpaid: negative balance
        r = rnd()
        amount_style = 0 if r < as1 else 1 if r < as2 else 2

        if paid:
            payment = billed + 10 + int(rnd() * 50)
            payment_received = fmt[payment]
            check = f"EFT{int(rnd() * 1e9):09d}" if rnd() < 0.6 else f"CHK{int(rnd() * 1e6):06d}"
            updated = payment
        else:
            payment_received = check = ""
            updated = billed
        auth = f"AUTH{int(rnd() * 1e7):07d}" if rnd() < 0.4 else ""
        created_at = iso_prefix[entered] + times[int(rnd() * _TIME_POOL)]
        updated_at = iso_prefix[updated] + times[int(rnd() * _TIME_POOL)]

        row = {
            "ClaimID": claim_id,
            "PateintNameID": f"{patient_name} ({patient_id})",
            "PatientReference": mrn,
            "PayerID": payer_id,
            "ClaimPrimaryPayerName": payer_name,
            "PrimaryAuth": auth,
            "StatementCoversFromDate": fmt[start],
            "StatementCoversToDate": fmt[end],
            "ClaimFromDate": fmt[start],
            "ClaimDateEntered": fmt[entered],
            "ClaimLastBilledDate": fmt[billed],
            "ClaimTotalAmount": format_amount(total, amount_style),
            "ClaimAmountPaid": format_amount(paid, amount_style),
            "ClaimBalance": format_amount(total - paid, amount_style),
            "PaymentReceived": payment_received,
            "PaymentCheck": check,
            "ClaimReference": f"REF-{int(rnd() * 1e8):08d}",
            "UniqueKey": f"{rng.getrandbits(64):016x}",
            "createdAt": created_at,
            "updatedAt": updated_at,
        }
        kind = malformed_at.get(i)
        if kind is not None:
            _make_malformed(row, MALFORMED_KINDS[kind], fmt, start, i)
        append(row)

    # Duplicates: a later repeat of a valid, mapped claim with changed values, inserted anywhere after it.
    inserts: dict[int, list[dict[str, str]]] = {}
    if dup_count:
        candidates = [i for i in range(originals) if i not in malformed_at and i not in unmapped_at]
        for source in sorted(rng.sample(candidates, dup_count)):
            position = source + 1 + int(rnd() * (originals - source))
            inserts.setdefault(position, []).append(_advance_claim(rows[source], rng))

    report = GeneratedReport(rows=[])
    final = report.rows
    for i in range(originals + 1):
        for dup in inserts.get(i, ()):
            report.duplicates.append(len(final))
            final.append(dup)
        if i == originals:
            break
        kind = malformed_at.get(i)
        if kind is not None:
            report.malformed[len(final)] = MALFORMED_KINDS[kind]
        elif i in unmapped_at:
            report.unmapped.append(len(final))
        final.append(rows[i])
    return report


def mutate_rows(
    rows: Sequence[dict[str, str]], share: float, seed: int
) -> tuple[list[dict[str, str]], list[str]]:
    """Change a deterministic ``share`` of the valid claims, as the next day's report would.

    A changed claim receives a payment (unpaid or partly paid claims) or an adjustment (paid ones):
    ``ClaimAmountPaid``, ``ClaimBalance``, ``PaymentReceived``, ``PaymentCheck`` and ``updatedAt`` change,
    keeping balance = total - paid and the row's own amount and date styles. Only claims whose ``ClaimID``
    is present, at most 50 characters, appears once, and whose amounts parse are candidates. The input is
    not modified; the result shares the unchanged row objects. Returns the new rows and the changed
    ClaimIDs in row order.
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
        raise ValueError("share must be a number between 0 and 1")
    counts = Counter(row.get("ClaimID", "") for row in rows)
    candidates = [
        i
        for i, row in enumerate(rows)
        if 0 < len(row.get("ClaimID", "")) <= 50
        and counts[row["ClaimID"]] == 1
        and parse_amount(row.get("ClaimTotalAmount", "")) is not None
        and parse_amount(row.get("ClaimAmountPaid", "") or "0") is not None
    ]
    k = round(len(candidates) * share)
    if share > 0 and k == 0 and candidates:
        k = 1
    rng = random.Random(f"claimsync-cmd-mutate:{seed}")
    chosen = sorted(rng.sample(candidates, k))
    new_rows = list(rows)
    for i in chosen:
        new_rows[i] = _advance_claim(rows[i], rng)
    return new_rows, [rows[i]["ClaimID"] for i in chosen]


# --- formatting and parsing helpers -------------------------------------------------------------


def format_amount(cents: int, style: int) -> str:
    """Cents as the report shows them: 0 plain minimal, 1 two decimals, 2 ``$1,867.99`` / ``(25.00)``."""
    negative = cents < 0
    whole, frac = divmod(abs(cents), 100)
    if style == 2:
        return f"({whole:,}.{frac:02d})" if negative else f"${whole:,}.{frac:02d}"
    sign = "-" if negative else ""
    if style == 1:
        return f"{sign}{whole}.{frac:02d}"
    if frac == 0:
        return f"{sign}{whole}"
    if frac % 10 == 0:
        return f"{sign}{whole}.{frac // 10}"
    return f"{sign}{whole}.{frac:02d}"


_AMOUNT_RE = re.compile(r"^-?\d+(\.\d{1,2})?$")


def parse_amount(text: str) -> int | None:
    """Cents from any amount style this generator writes, or None."""
    s = text.strip()
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1]
    s = s.replace("$", "").replace(",", "")
    if not _AMOUNT_RE.match(s):
        return None
    if s.startswith("-"):
        negative, s = not negative, s[1:]
    whole, _, frac = s.partition(".")
    cents = int(whole) * 100 + int((frac + "00")[:2])
    return -cents if negative else cents


def _amount_style(text: str) -> int:
    if "$" in text or "(" in text or "," in text:
        return 2
    _, dot, frac = text.partition(".")
    return 1 if dot and len(frac) == 2 and text.endswith("0") else 0


_DATE_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^\d{2}/\d{2}/\d{4}$"), 0),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), 1),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), 2),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T"), 3),
)


def _date_style(text: str) -> int:
    for pattern, style in _DATE_PATTERNS:
        if pattern.match(text):
            return style
    return 0


def _parse_date(text: str) -> dt.date | None:
    s = text.strip()
    try:
        if "/" in s:
            month, day, year = (int(p) for p in s.split("/"))
            return dt.date(year, month, day)
        if len(s) >= 10:
            return dt.date.fromisoformat(s[:10])
    except ValueError:
        return None
    return None


def _format_date(day: dt.date, style: int) -> str:
    if style == 0:
        return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"
    if style == 1:
        return f"{day.month}/{day.day}/{day.year:04d}"
    if style == 2:
        return day.isoformat()
    return f"{day.isoformat()}T00:00:00.000Z"


def _time_of_day(millis: int) -> str:
    seconds, ms = divmod(millis, 1000)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


def _make_malformed(row: dict[str, str], kind: str, fmt: list[str], start: int, i: int) -> None:
    if kind == "missing_claim_id":
        row["ClaimID"] = ""
    elif kind == "long_claim_id":
        row["ClaimID"] = f"{row['ClaimID']}-{'7' * 50}"
    elif kind == "impossible_date":
        row["StatementCoversFromDate"] = "02/30/2024"
    elif kind == "garbage_amount":
        row["ClaimTotalAmount"] = "12..3" if i % 2 else "abc"
    elif kind == "end_before_start":
        # shift the start 10 days later and end 7 days before it (still within the cached dates)
        row["StatementCoversFromDate"] = row["ClaimFromDate"] = fmt[start + 10]
        row["StatementCoversToDate"] = fmt[start + 3]
    elif kind == "long_patient_name":
        last, _, rest = row["PateintNameID"].partition(", ")  # a name pasted over and over: > 255 chars
        row["PateintNameID"] = f"{last}, {'-'.join([last] * (256 // len(last) + 1))} {rest}"


def _advance_claim(row: dict[str, str], rng: random.Random) -> dict[str, str]:
    """A copy of ``row`` as it looks after the next payment or adjustment."""
    new = dict(row)
    total_text = row.get("ClaimTotalAmount", "")
    total = parse_amount(total_text) or 0
    paid = parse_amount(row.get("ClaimAmountPaid", "") or "0") or 0
    balance = total - paid
    if balance > 0:
        paid += balance if rng.random() < 0.7 else max(1, int(balance * (0.2 + 0.5 * rng.random())))
    elif paid > 0:
        paid -= min(paid, 500 + int(rng.random() * 5_000))  # recoupment / adjustment
    style = _amount_style(total_text)
    new["ClaimAmountPaid"] = format_amount(paid, style)
    new["ClaimBalance"] = format_amount(total - paid, style)

    date_text = row.get("StatementCoversFromDate", "")
    date_style = _date_style(date_text)
    last = (
        _parse_date(row.get("PaymentReceived", ""))
        or _parse_date(row.get("ClaimLastBilledDate", ""))
        or _parse_date(date_text)
        or _BASE_DATE
    )
    payment = last + dt.timedelta(days=7 + int(rng.random() * 24))
    new["PaymentReceived"] = _format_date(payment, date_style)
    new["PaymentCheck"] = f"EFT{int(rng.random() * 1e9):09d}"
    new["updatedAt"] = f"{payment.isoformat()}T{_time_of_day(int(rng.random() * 86_400_000))}"
    return new
