"""How a run's cost grows with the report (``python -m bench.scale [--sizes 10000,100000,...]``).

Full syncs of each size on one local world — every Lambda in its own worker process under its
deployed memory size (``local/aws/pool.py``), each emulator in its own process — then a 1 % incremental
at the largest size. Each run is ``claimsync local sync --json`` in a process of its own, as an operator
runs it against ``local up``; its wall time is that command's, start to exit. For each run: wall time per phase (report, payors, transform, upload, finish, from the execution history), each
function's Max Memory Used (the largest of its REPORT lines), Salesforce API calls, state transitions
and history events. Writes ``bench/results/scale.json``, ``docs/performance.png`` (matplotlib, a dev
dependency) and the tables of ``docs/performance.md``. Figures are measurements, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from claimsync import layout
from claimsync.operator import execution
from local.syncrun import aws_client, local_deployment, salesforce_counters
from local.world import LocalWorld, WorldOptions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
DEFAULT_SIZES = (10_000, 100_000, 300_000, 1_000_000)
PHASES = {  # phase -> (first state entered, last state exited)
    "report": ("StartReport", "ReportStaged"),
    "payors": ("LoadPayors", "LoadPayors"),
    "transform": ("TransformPages", "TransformPages"),
    "upload": ("StartUpload", "IsUploadPending"),
    "finish": ("FinishRun", "ReleaseLock"),
}


def _admin(world: LocalWorld, system: str, method: str, path: str, **kw: Any) -> Any:
    e = world.endpoints[system]
    resp = requests.request(method, e["admin_url"] + path, verify=e["ca_cert"], timeout=600, **kw)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def history(world: LocalWorld, execution_name: str) -> list[dict[str, Any]]:
    arn = execution.execution_arn(local_deployment(world.endpoints), execution_name)
    return execution.history_since(aws_client(world.endpoints, "stepfunctions"), arn)


def phases(events: list[dict[str, Any]]) -> dict[str, float]:
    entered: dict[str, float] = {}
    exited: dict[str, float] = {}
    for event in events:
        name = (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get(
            "name"
        )
        if not name:
            continue
        at = event["timestamp"].timestamp()
        if event["type"].endswith("StateEntered"):
            entered.setdefault(name, at)
        elif event["type"].endswith("StateExited"):
            exited[name] = at
    out = {}
    for phase, (first, last) in PHASES.items():
        if first in entered and last in exited:
            out[phase] = round(exited[last] - entered[first], 2)
    return out


def state_times(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds spent in each state, summed over its visits (concurrent Map iterations add up)."""
    open_at: dict[str, list[float]] = {}
    spent: dict[str, float] = {}
    for event in events:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        name = details.get("name")
        if not name:
            continue
        at = event["timestamp"].timestamp()
        if event["type"].endswith("StateEntered"):
            open_at.setdefault(name, []).append(at)
        elif event["type"].endswith("StateExited") and open_at.get(name):
            spent[name] = round(spent.get(name, 0.0) + at - open_at[name].pop(0), 2)
    return spent


def local_sync(world: LocalWorld, env: dict[str, str], *, full: bool) -> tuple[dict[str, Any], float]:
    """``claimsync local sync [--full] --json`` in a process of its own, as an operator runs it
    against ``local up``: its summary, and its wall time from start to exit."""
    command = [sys.executable, "-m", "local.cli", "local", "sync", "--json", "--timeout", "3600"]
    command += ["--state-dir", str(world.state_dir), *(["--full"] if full else [])]
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=4000)
    wall_s = time.monotonic() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:  # its last line on stderr says why (never a claim's data)
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"local sync ended with exit status {done.returncode}: {why}")
    return json.loads(lines[-1]), wall_s


def measured_run(world: LocalWorld, env: dict[str, str], *, full: bool = False) -> dict[str, Any]:
    reports_before = len(world.aws.reports())
    calls_before = salesforce_counters(world.endpoints)["by_kind"]
    summary, wall_s = local_sync(world, env, full=full)
    calls_after = salesforce_counters(world.endpoints)["by_kind"]
    events = history(world, summary["execution"])
    memory: dict[str, int] = {}
    for report in world.aws.reports()[reports_before:]:
        name = report.function_name.removeprefix("claimsync-local-")
        if report.max_memory_used_mb is not None:
            memory[name] = max(memory.get(name, 0), report.max_memory_used_mb)
    return {
        "status": summary["status"],
        "rows_in": summary.get("rows_in"),
        "sent": summary.get("sent"),
        "pages": summary.get("page_count"),
        "wall_s": round(wall_s, 3),  # the whole command, as its user waits for it
        "phases_s": phases(events),
        "states_s": state_times(events),
        "max_memory_used_mb": memory,
        "salesforce_api_calls": summary["salesforce_api_calls"],
        "salesforce_calls_by_kind": {
            kind: n - calls_before.get(kind, 0)
            for kind, n in sorted(calls_after.items())
            if n != calls_before.get(kind, 0)
        },
        "state_transitions": summary["state_transitions"],
        "history_events": summary["history_events"],
    }


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["full"]
    sizes = [r["rows_in"] for r in runs]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    bottom = [0.0] * len(runs)
    for phase in PHASES:
        values = [r["phases_s"].get(phase, 0.0) for r in runs]
        ax.bar([str(s) for s in sizes], values, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title("wall time per phase (s)")
    ax.legend()
    ax = axes[1]
    for spec in layout.SYNC_FUNCTIONS:
        ax.plot(sizes, [r["max_memory_used_mb"].get(spec.name, 0) for r in runs], marker="o", label=spec.name)
    ax.axhline(256, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_title("Max Memory Used per function (MB)")
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.plot(sizes, [r["salesforce_api_calls"] for r in runs], marker="o", label="Salesforce API calls")
    ax.plot(sizes, [r["state_transitions"] for r in runs], marker="o", label="state transitions")
    ax.plot(sizes, [r["history_events"] / 10 for r in runs], marker="o", label="history events / 10")
    ax.set_xscale("log")
    ax.set_title("per run")
    ax.legend()
    for ax in axes[1:]:
        ax.set_xlabel("claims in the report")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def markdown(result: dict[str, Any]) -> str:
    functions = [spec.name for spec in layout.SYNC_FUNCTIONS]
    lines = [
        "| run | claims | pages | wall s | report | transform | upload | finish | SF calls | transitions | events |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in [*(("full", r) for r in result["full"]), ("1 % incremental", result["incremental"])]:
        p = r["phases_s"]
        lines.append(
            f"| {label} | {r['rows_in']:,} | {r['pages']} | {r['wall_s']} | {p.get('report', '')} | "
            f"{p.get('transform', '')} | {p.get('upload', '')} | {p.get('finish', '')} | "
            f"{r['salesforce_api_calls']} | {r['state_transitions']} | {r['history_events']} |"
        )
    lines += ["", "Max Memory Used (MB) per function:", "", "| run | " + " | ".join(functions) + " |",
              "|---|" + "---|" * len(functions)]  # fmt: skip
    for label, r in [
        *((f"{r['rows_in']:,}", r) for r in result["full"]),
        ("1 % incr.", result["incremental"]),
    ]:
        lines.append(
            f"| {label} | " + " | ".join(str(r["max_memory_used_mb"].get(f, "")) for f in functions) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.*")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    result: dict[str, Any] = {"full": []}
    with tempfile.TemporaryDirectory(prefix="claimsync-scale-") as tmp:
        env = dict(os.environ)  # the world puts the handlers' settings in os.environ: not the CLI's
        world = LocalWorld(WorldOptions(state_dir=Path(tmp), claims=0))
        world.start()
        try:
            for size in sizes:
                _admin(world, "salesforce", "POST", "/reset")
                _admin(world, "collaboratemd", "POST", "/generate", json={"claims": size, "seed": 7})
                started = time.monotonic()
                run = measured_run(world, env, full=True)
                run["total_s"] = round(time.monotonic() - started, 1)
                print(json.dumps({"size": size, **run}), flush=True)
                result["full"].append(run)
            _admin(world, "collaboratemd", "POST", "/mutate", json={"share": 0.01, "seed": 3})
            result["incremental"] = measured_run(world, env)
            print(json.dumps({"incremental": result["incremental"]}), flush=True)
        finally:
            world.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_docs:
        chart(result, DOCS / "performance.png")
        text = (DOCS / "performance.md").read_text() if (DOCS / "performance.md").exists() else ""
        begin, end = "<!-- scale:begin -->", "<!-- scale:end -->"
        table = f"{begin}\n{markdown(result)}\n{end}"
        text = (
            text.split(begin)[0] + table + text.split(end)[1] if begin in text else text + "\n" + table + "\n"
        )
        (DOCS / "performance.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
