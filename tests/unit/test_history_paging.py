"""GetExecutionHistory paging of the local world (``local/aws/paging.py``): a token names the last
event answered, so paging goes on from the same place while the history grows (as in AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from local.aws.paging import PageError, history_page


def _history(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "type": "PassStateEntered", "stateEnteredEventDetails": {"name": f"S{i}", "input": "{}"}}
            for i in range(1, n + 1)]  # fmt: skip


def test_a_token_taken_before_the_history_grew_pages_on_from_the_same_event() -> None:
    first = history_page(_history(10), {"maxResults": 4})
    assert [e["id"] for e in first["events"]] == [1, 2, 3, 4]
    grown = history_page(_history(15), {"maxResults": 4, "nextToken": first["nextToken"]})
    assert [e["id"] for e in grown["events"]] == [5, 6, 7, 8]


def test_reverse_pages_go_from_the_newest_down_and_the_last_page_has_no_token() -> None:
    newest = history_page(_history(6), {"maxResults": 4, "reverseOrder": True})
    assert [e["id"] for e in newest["events"]] == [6, 5, 4, 3]
    rest = history_page(
        _history(9), {"maxResults": 4, "reverseOrder": True, "nextToken": newest["nextToken"]}
    )
    assert [e["id"] for e in rest["events"]] == [2, 1]
    assert "nextToken" not in rest


def test_without_execution_data_the_details_keep_everything_but_input_and_output() -> None:
    (event,) = history_page(_history(1), {"includeExecutionData": False})["events"]
    assert event["stateEnteredEventDetails"] == {"name": "S1"}
    assert _history(1)[0]["stateEnteredEventDetails"]["input"] == "{}"  # the stored event is untouched


@pytest.mark.parametrize(
    ("params", "kind"),
    [({"nextToken": "bm90LWpzb24"}, "InvalidToken"), ({"maxResults": 1001}, "ValidationException")],
)
def test_a_bad_token_or_page_size_is_refused_as_aws_refuses_it(params: dict[str, Any], kind: str) -> None:
    with pytest.raises(PageError) as refused:
        history_page(_history(3), params)
    assert refused.value.kind == kind
