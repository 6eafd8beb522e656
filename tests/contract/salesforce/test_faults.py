"""``/__admin/faults`` takes the fault shape both emulators share (``local/faults.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from local.salesforce_emulator.server import SalesforceEmulator

pytestmark = pytest.mark.contract

Api = Callable[..., requests.Response]


def test_faults_are_queued_listed_with_what_is_left_and_cleared(
    clean: SalesforceEmulator, http: requests.Session, api: Api
) -> None:
    body = [
        {"kind": "unavailable", "on": "limits", "count": 2},
        {"kind": "lock_row", "share": 0.5},
        {"kind": "hold_jobs"},
    ]
    answer = http.post(clean.admin_url + "/faults", json=body)
    assert answer.status_code == 200 and answer.json()["queued"] == 3
    assert api("GET", "limits").status_code == 503
    assert http.get(clean.admin_url + "/faults").json() == {
        "faults": [
            {"kind": "unavailable", "on": "limits", "count": 1},
            {"kind": "lock_row", "share": 0.5, "seed": 0, "max_per_record": 1},
            {"kind": "hold_jobs"},
        ],
        "held_jobs": [],
    }
    assert api("GET", "limits").status_code == 503
    assert api("GET", "limits").status_code == 200  # used up
    assert http.delete(clean.admin_url + "/faults").json() == {"faults": []}
    assert http.get(clean.admin_url + "/faults").json()["faults"] == []


@pytest.mark.parametrize(
    "fault",
    [
        {"nonsense": 1},
        {"kind": "unavailable", "on": "no_such_call"},
        {"kind": "unavailable", "count": 0},
        {"kind": "drop_answer", "on": "oauth_token"},  # the token endpoint's answer is never dropped
        {"kind": "slow_answer", "on": "query"},
        {"kind": "slow_answer", "on": "query", "seconds": 31},
        {"kind": "lock_row", "share": 1.5},
        {"kind": "lock_row", "share": 0.1, "count": 1},
        {"kind": "hold_jobs", "on": "bulk_close"},
        [{"kind": "fail_job"}, {"kind": "fail_job", "count": "2"}],  # all or nothing
        "fail_job",
    ],
)
def test_a_bad_fault_is_400_invalid_fault_and_queues_nothing(
    clean: SalesforceEmulator, http: requests.Session, fault: Any
) -> None:
    answer = http.post(clean.admin_url + "/faults", json=fault)
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "INVALID_FAULT"
    assert http.get(clean.admin_url + "/faults").json()["faults"] == []
