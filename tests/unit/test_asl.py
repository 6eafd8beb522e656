"""The one ASL file against the shared layout: placeholders, wiring, failure paths."""

import json
import re

import pytest

from claimsync import layout

pytestmark = pytest.mark.unit

ASL_TEXT = layout.ASL_PATH.read_text()
ASL = json.loads(ASL_TEXT)


def all_states(states=None):
    for name, state in (states or ASL["States"]).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"]["States"])


def test_placeholders_are_exactly_the_layouts():
    assert set(re.findall(r"\$\{(\w+)\}", ASL_TEXT)) == layout.ASL_PLACEHOLDERS


def test_render_refuses_missing_or_extra_substitutions():
    full = {p: "x" for p in layout.ASL_PLACEHOLDERS}
    assert "${" not in layout.render_asl(full)
    with pytest.raises(KeyError):
        layout.render_asl({k: v for k, v in full.items() if k != "SyncTableName"})
    with pytest.raises(KeyError):
        layout.render_asl({**full, "Unknown": "y"})


def test_every_lambda_task_is_a_sync_function():
    names = {f"${{{f.placeholder}}}" for f in layout.SYNC_FUNCTIONS}
    lambda_tasks = {
        s["Resource"] for _, s in all_states() if s["Type"] == "Task" and s["Resource"].startswith("${")
    }
    assert lambda_tasks == names


def test_transitions_point_at_existing_states_in_scope():
    def check(states):
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Choices", [])]
            targets += [c["Next"] for c in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target}"
            for branch in state.get("Branches", []):
                check(branch["States"])
            if "ItemProcessor" in state:
                check(state["ItemProcessor"]["States"])

    check(ASL["States"])


def test_every_step_after_the_lock_fails_through_record_and_release():
    top = ASL["States"]
    guarded = [
        name
        for name, s in top.items()
        if s["Type"] in ("Task", "Parallel", "Map")
        and name not in ("PrepareRun", "RecordFailure")
        and not name.startswith("ReleaseLock")
    ]
    for name in guarded:
        nexts = [c["Next"] for c in top[name]["Catch"] if "States.ALL" in c["ErrorEquals"]]
        assert nexts == [f"{name}Failed"], name
        assert top[f"{name}Failed"]["Next"] == "RecordFailure"
    assert top["RecordFailure"]["Next"] == "ReleaseLockAfterFailure"
    assert top["ReleaseLockAfterFailure"]["Next"] == "RunFailed"
    assert top["RunFailed"]["Type"] == "Fail"


def test_every_wait_loop_goes_through_a_deadline_checking_lambda():
    top = ASL["States"]
    branch = top["GatherSources"]["Branches"][0]["States"]
    assert branch["WaitForReport"]["Next"] == "CheckReport"
    assert top["WaitForUpload"]["Next"] == "CheckUpload"


def test_map_runs_over_pages_with_bounded_concurrency():
    m = ASL["States"]["TransformPages"]
    assert m["ItemsPath"] == "$.sources.report.pages"
    assert 1 <= m["MaxConcurrency"] <= 40
