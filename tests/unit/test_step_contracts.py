"""The state machine and the step code agree, checked in milliseconds (no world, no moto).

- every Lambda task of the ASL is a declared step, and what its ``Parameters`` (or the Map's
  ``ItemSelector``) pass is exactly what the step's input dataclass takes: no unknown key, every
  required field;
- every JSONPath the ASL reads from a task's result (``$.request.poll_seconds``,
  ``$.sources.report.page_count``, ``$.upload.pending``, ``$.summary.snapshot_prefix``...) is a field of
  that task's output dataclass;
- every error name in ``Retry``/``Catch`` is a real exception class, and the retried ones are exactly
  the transient errors each step declares — derived from the classes, not kept by hand.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from claimsync import layout
from claimsync.errors import all_error_classes
from claimsync.steps import STEPS
from claimsync.steps.contract import field_type, required_fields

pytestmark = pytest.mark.unit

ASL = json.loads(layout.ASL_PATH.read_text())
AWS_ERROR_PREFIXES = ("States.", "Lambda.", "DynamoDB.")
# Paths into what no step produces: the DynamoDB GetItem result, the Catch error, the failure Pass.
NOT_STEP_OUTPUT = ("$.checkpoint", "$.error", "$.failure")
PLACEHOLDER = re.compile(r"^\$\{(\w+)FunctionArn\}$")
PATH = re.compile(r"(?<!\$)\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+")  # not $$ (the context object)


def walk(
    states: dict[str, Any], selector: dict[str, Any] | None = None
) -> Iterator[tuple[str, dict, dict | None]]:
    for name, state in states.items():
        yield name, state, selector
        for branch in state.get("Branches", []):
            yield from walk(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from walk(processor["States"], state.get("ItemSelector"))


def lambda_tasks() -> Iterator[tuple[str, dict, dict | None]]:
    for name, state, selector in walk(ASL["States"]):
        match = PLACEHOLDER.match(str(state.get("Resource", "")))
        if state["Type"] == "Task" and match:
            assert match.group(1) == name, f"{name} runs the function of another state"
            yield name, state, selector


def outputs(step_name: str) -> list[type]:
    hint = typing.get_type_hints(STEPS[step_name].function)["return"]
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return list(typing.get_args(hint))
    return [hint]


def result_roots() -> dict[str, list[type]]:
    """Where each task's output lands in the state (``ResultPath``), and the Parallel's selections."""
    roots: dict[str, list[type]] = {}
    for name, state, _ in lambda_tasks():
        if "ResultPath" not in state:
            continue  # the last state of a Parallel branch: its output is the branch's (below)
        path = state["ResultPath"]
        if path is not None:
            roots.setdefault(path, []).extend(outputs(name))
    for _, state, _ in walk(ASL["States"]):
        if state["Type"] != "Parallel":
            continue
        for key, ref in state.get("ResultSelector", {}).items():
            index = int(re.fullmatch(r"\$\[(\d+)\]", ref).group(1))
            branch = state["Branches"][index]["States"]
            final = next(s for s in branch.values() if s.get("End"))
            if final["Type"] == "Task":
                types_ = outputs(PLACEHOLDER.match(final["Resource"]).group(1))
            else:  # a Pass handing on a task's result
                types_ = [t for t in roots[final["OutputPath"]] if "state" not in _fields(t) or _ready(t)]
            roots[f"{state['ResultPath']}.{key.removesuffix('.$')}"] = types_
    return roots


def _fields(cls: type) -> set[str]:
    return set(getattr(cls, "__dataclass_fields__", {}))


def _ready(cls: type) -> bool:
    return cls.__dataclass_fields__["state"].default == "READY"


def resolves(types_: list[type], segments: list[str]) -> bool:
    for cls in types_:
        current: Any = cls
        for segment in segments:
            try:
                current = field_type(current, segment)
            except (KeyError, TypeError):
                break
        else:
            return True
    return False


def jsonpaths(node: Any, key: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from jsonpaths(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from jsonpaths(v, key)
    elif isinstance(node, str) and (
        key.endswith(".$") or key in ("SecondsPath", "ItemsPath", "Variable", "OutputPath", "InputPath")
    ):
        yield from PATH.findall(node)


def test_every_lambda_task_is_a_declared_step_with_its_own_function():
    names = [name for name, _, _ in lambda_tasks()]
    assert sorted(names) == sorted(STEPS)
    assert {spec.name for spec in layout.SYNC_FUNCTIONS} == set(STEPS)


@pytest.mark.parametrize("name", sorted(STEPS))
def test_parameters_are_exactly_the_step_input(name):
    (state, selector) = next((s, sel) for n, s, sel in lambda_tasks() if n == name)
    passed = state.get("Parameters") or selector or {}
    keys = {key.removesuffix(".$") for key in passed}
    task = STEPS[name].task
    assert keys <= _fields(task), f"{name} passes fields its input does not have: {keys - _fields(task)}"
    assert required_fields(task) <= keys, f"{name} lacks required input {required_fields(task) - keys}"


def paths_by_scope() -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Every JSONPath of every state, with the Map item selector when the state runs inside a Map."""
    for _, state, selector in walk(ASL["States"]):
        own = {k: v for k, v in state.items() if k not in ("Branches", "ItemProcessor", "Iterator")}
        for path in jsonpaths(own):
            yield path, selector


def test_every_path_read_from_a_task_result_is_a_field_of_its_output():
    roots = result_roots()
    assert {"$", "$.request", "$.sources.report", "$.sources.payors", "$.upload", "$.summary"} <= set(roots)
    item_types = [STEPS[name].task for name, _, selector in lambda_tasks() if selector is not None]
    checked = 0
    for path, selector in set((p, json.dumps(s)) for p, s in paths_by_scope()):
        scope = roots if selector == "null" else {"$": item_types}  # inside the Map: the item
        if path.startswith(NOT_STEP_OUTPUT):
            continue
        root = max((r for r in scope if r == "$" or path == r or path.startswith(r + ".")), key=len)
        rest = path[len(root) :].lstrip(".").split(".") if path != root else []
        assert resolves(scope[root], rest), f"{path}: no field {rest} on {scope[root]}"
        checked += 1
    assert checked >= 15


def test_a_renamed_field_would_be_caught():
    roots = result_roots()
    assert not resolves(roots["$.upload"], ["pendingg"])
    assert resolves(roots["$.sources.report"], ["page_count"])


def retry_names(state: dict[str, Any]) -> set[str]:
    return {name for rule in state.get("Retry", []) for name in rule["ErrorEquals"]}


def test_error_names_are_exception_classes():
    known = all_error_classes()
    for _, state, _ in walk(ASL["States"]):
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]:
            for name in rule["ErrorEquals"]:
                assert name.startswith(AWS_ERROR_PREFIXES) or name in known, f"{name} is no exception class"


@pytest.mark.parametrize("name", sorted(STEPS))
def test_each_task_retries_exactly_the_transient_errors_its_step_declares(name):
    state = next(s for n, s, _ in lambda_tasks() if n == name)
    ours = {n for n in retry_names(state) if not n.startswith(AWS_ERROR_PREFIXES)}
    assert ours == {cls.__name__ for cls in STEPS[name].retried}
    assert all(cls.transient for cls in STEPS[name].retried)


def test_the_retried_errors_are_derived_from_the_classes():
    transient = {name for name, cls in all_error_classes().items() if cls.transient}
    retried = {cls.__name__ for step in STEPS.values() for cls in step.retried}
    assert transient == retried, "a transient error no step retries, or a retried one not transient"
