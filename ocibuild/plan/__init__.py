"""The build planner: a parsed Dockerfile in, a stage DAG out (pure, no I/O).

``plan()`` splits the Dockerfile into stages, scopes build arguments, resolves
stage references and picks the stages the target needs.  Running the steps
is left to ``ocibuild.executor``.
"""

from __future__ import annotations

from ocibuild.plan.args import PROXY_ARGS, predefined_args, resolve_arg
from ocibuild.plan.graph import BuildGraph, Stage
from ocibuild.plan.stages import mount_from, plan, step_refs

__all__ = [
    "PROXY_ARGS",
    "BuildGraph",
    "Stage",
    "mount_from",
    "plan",
    "predefined_args",
    "resolve_arg",
    "step_refs",
]
