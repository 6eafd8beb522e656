"""The one fault shape both emulators take (``local/faults.py``): parsed and checked once, then fired
from one queue. Each emulator's catalog is exercised here too, so a kind that drifts from the shape
fails in milliseconds."""

from __future__ import annotations

from typing import Any

import pytest

from local.collaboratemd_emulator.faults import CATALOG as CMD_CATALOG
from local.faults import Fault, FaultCatalog, FaultError, FaultKind, FaultQueue, Param, integer, number
from local.salesforce_emulator.faults import CATALOG as SF_CATALOG
from local.salesforce_emulator.faults import Faults

CATALOG = FaultCatalog(
    [
        FaultKind(
            "fail", params=(Param("status", integer("status", 500, 599)),), targets=frozenset({"a", "b"})
        ),
        FaultKind("slow", params=(Param("seconds", number("seconds", 0, 5, low_open=True)),)),
        FaultKind("hold", counted=False),
    ]
)


def test_a_declaration_parses_once_into_a_frozen_fault_with_defaults() -> None:
    fault = CATALOG.parse({"kind": "fail", "status": 503})
    assert (fault.kind, fault.on, fault.count, dict(fault.params)) == ("fail", "*", 1, {"status": 503})
    assert CATALOG.parse({"kind": "hold"}) == Fault(kind="hold", on=None, count=None)
    with pytest.raises(AttributeError):
        fault.count = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("text", "a fault must be a JSON object"),
        ({}, "kind must be one of: fail, slow, hold"),
        ({"kind": "fail"}, "a fail fault needs status"),
        ({"kind": "fail", "status": 404}, "status must be an integer in [500, 599]"),
        ({"kind": "fail", "status": 500, "on": "c"}, 'on must be "*" or one of: a, b'),
        ({"kind": "fail", "status": 500, "on": ["a"]}, 'on must be "*" or one of: a, b'),
        ({"kind": "fail", "status": 500, "count": 0}, "count must be an integer of at least 1"),
        ({"kind": "slow", "seconds": 1, "on": "a"}, "unknown key(s) for a slow fault: on"),
        ({"kind": "slow", "seconds": 0}, "seconds must be a number in (0, 5]"),
        ({"kind": "slow", "seconds": True}, "seconds must be a number in (0, 5]"),
        ({"kind": "hold", "count": 1}, "unknown key(s) for a hold fault: count"),
    ],
)
def test_a_bad_declaration_is_refused_with_a_reason(spec: Any, message: str) -> None:
    with pytest.raises(FaultError) as caught:
        CATALOG.parse(spec)
    assert message in str(caught.value)


def test_a_body_is_one_fault_or_a_list_and_a_bad_item_names_its_position() -> None:
    assert len(CATALOG.parse_body({"kind": "hold"})) == 1
    assert len(CATALOG.parse_body([{"kind": "hold"}, {"kind": "slow", "seconds": 1}])) == 2
    with pytest.raises(FaultError, match="fault 1: "):
        CATALOG.parse_body([{"kind": "hold"}, {"kind": "nope"}])


def test_counted_faults_fire_in_order_on_their_call_and_are_used_up() -> None:
    queue = FaultQueue()
    queue.add(
        CATALOG.parse_body(
            [{"kind": "fail", "status": 500, "on": "b"}, {"kind": "fail", "status": 503, "count": 2}]
        )
    )
    assert queue.take("fail", "a")["status"] == 503  # the first fault targets b only
    assert queue.describe() == [
        {"kind": "fail", "on": "b", "count": 1, "status": 500},
        {"kind": "fail", "on": "*", "count": 1, "status": 503},
    ]
    assert queue.take("fail", "b")["status"] == 500
    assert queue.take("fail", "b")["status"] == 503
    assert queue.take("fail", "b") is None and queue.describe() == []


def test_a_standing_fault_stays_until_cleared_and_replaces_its_kind() -> None:
    queue = FaultQueue()
    queue.add([CATALOG.parse({"kind": "hold"}), CATALOG.parse({"kind": "hold"})])
    assert queue.take("hold") is not None and queue.take("hold") is not None
    assert queue.describe() == [{"kind": "hold"}]
    queue.clear()
    assert queue.standing("hold") is None


def test_both_emulators_declare_their_faults_in_the_one_shape() -> None:
    assert CMD_CATALOG.parse({"kind": "http_status", "status": 503, "on": "run", "count": 2}).on == "run"
    assert CMD_CATALOG.parse({"kind": "delay", "seconds": 2.5})["seconds"] == 2.5
    assert SF_CATALOG.parse({"kind": "unavailable", "on": "bulk_upload"}).count == 1
    with pytest.raises(FaultError, match="on must be"):
        SF_CATALOG.parse({"kind": "unavailable", "on": "bulk_uplaod"})  # a misspelt call kind
    lock = SF_CATALOG.parse({"kind": "lock_row", "share": 0.5})
    assert dict(lock.params) == {"share": 0.5, "seed": 0, "max_per_record": 1}


def test_salesforce_lock_row_is_deterministic_and_bounded_per_record() -> None:
    faults = Faults()
    faults.add([SF_CATALOG.parse({"kind": "lock_row", "share": 0.5, "seed": 1, "max_per_record": 2})])
    keys = [f"K{i}" for i in range(200)]
    first = {k for k in keys if faults.lock_row(k)}
    assert 60 < len(first) < 140
    assert {k for k in keys if faults.lock_row(k)} == first  # the same records, a second time
    assert not any(faults.lock_row(k) for k in keys)  # then each has failed its two times
    faults.clear()
    assert not faults.locking_rows and not faults.lock_row(next(iter(first)))
