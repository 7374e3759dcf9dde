"""Helpers the benchmark sections share: statistics, the ABBA order, the shim's worker reports,
the environment of a measured run."""
import json
import os
import statistics
from typing import Any, Dict, List, Tuple


def med(xs: List[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def quart(xs: List[float]) -> Tuple[float, float]:
    """(p25, p75) of xs; (x, x) for one value."""
    if not xs:
        return (float("nan"), float("nan"))
    if len(xs) < 2:
        return (xs[0], xs[0])
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return (q[0], q[2])


def abba(rounds: int) -> List[Tuple[str, str]]:
    """Order of the two arms in each round: A B, B A, A B, ..."""
    return [("off", "on") if r % 2 == 0 else ("on", "off") for r in range(rounds)]


def worker_reports(root: str) -> List[Dict[str, Any]]:
    """The shim's worker reports of the last run in project root (.testmon-shim/*.worker-*)."""
    reports = []
    sd = os.path.join(root, ".testmon-shim")
    if os.path.isdir(sd):
        for name in os.listdir(sd):
            if ".worker-" in name and name.endswith(".json"):
                with open(os.path.join(sd, name)) as f:
                    reports.append(json.load(f))
    return reports


def run_reports(root: str) -> List[Dict[str, Any]]:
    """The shim's run files in project root (.testmon-shim/run-<pid>-<start>.json): each
    controller's state and report (its pins of the datafile's state, shim/pin.h)."""
    reports = []
    sd = os.path.join(root, ".testmon-shim")
    if os.path.isdir(sd):
        for name in os.listdir(sd):
            if name.startswith("run-") and name.count(".") == 1 and name.endswith(".json"):
                with open(os.path.join(sd, name)) as f:
                    reports.append(json.load(f))
    return reports


def clean_env() -> Dict[str, str]:
    """The caller's environment without testmon's, pytest's, coverage's settings or a preload."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TESTMON", "PYTEST", "COV_")) and k != "LD_PRELOAD"}
