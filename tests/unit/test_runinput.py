import pytest

from claimsync.steps.run import InvalidInput, parse_run_input

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, {}),
        (None, {}),
        ({"full_sync": True}, {"full_sync": True}),
        ({"dry_run": True, "full_sync": False}, {"dry_run": True, "full_sync": False}),
    ],
)
def test_accepted_inputs(payload, expected):
    assert parse_run_input(payload) == expected


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"Comment": "Insert your JSON here"}, "unknown input keys ['Comment']"),
        ({"full_sync": "yes"}, "full_sync must be true or false"),
        ({"dry_run": 1}, "dry_run must be true or false"),
        ([True], "must be a JSON object"),
        ("full", "must be a JSON object"),
    ],
)
def test_rejected_inputs_say_why(payload, message):
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_run_input(payload)
