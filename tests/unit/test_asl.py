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


DYNAMODB_TASK_TIMEOUT_MAX_S = 60  # one item read or write: seconds, never minutes


def test_every_task_state_times_out_no_sooner_than_its_function():
    """A Task without TimeoutSeconds waits on a lost invocation until the whole run times out (4 h),
    holding the lock; a Lambda Task must not time out before its function could have finished."""
    functions = {f"${{{spec.placeholder}}}": spec for spec in layout.SYNC_FUNCTIONS}
    tasks = [(name, s) for name, s in all_states() if s["Type"] == "Task"]
    assert len(tasks) == len(functions) + 7  # and the 7 DynamoDB item tasks
    for name, state in tasks:
        timeout = state.get("TimeoutSeconds")
        assert isinstance(timeout, int), f"{name} has no TimeoutSeconds"
        spec = functions.get(state["Resource"])
        if spec is not None:
            assert timeout >= spec.timeout_s, f"{name}: {timeout} s < {spec.name}'s {spec.timeout_s} s"
        else:
            assert state["Resource"].startswith("arn:aws:states:::dynamodb:"), name
            assert 1 <= timeout <= DYNAMODB_TASK_TIMEOUT_MAX_S, name
    assert ASL["TimeoutSeconds"] > max(spec.timeout_s for spec in layout.SYNC_FUNCTIONS)


def test_the_cli_reads_the_lock_outcome_from_these_states():
    """``claimsync sync`` (``claimsync.operator.lock.lock_outcome``) knows a run holds the lock once it
    entered the state after AcquireLock, and that it was refused from the AlreadyRunning output."""
    from claimsync.operator.lock import AFTER_LOCK_STATE

    top = ASL["States"]
    assert top["AcquireLock"]["Next"] == AFTER_LOCK_STATE
    refused = [
        c["Next"]
        for c in top["AcquireLock"]["Catch"]
        if "DynamoDB.ConditionalCheckFailedException" in c["ErrorEquals"]
    ]
    assert refused == ["AlreadyRunning"]
    assert top["AlreadyRunning"]["Parameters"]["status"] == "ALREADY_RUNNING" and top["AlreadyRunning"]["End"]
