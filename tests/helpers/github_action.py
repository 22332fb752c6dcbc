"""Run a composite GitHub Action's steps here, as a runner would, to test action.yml.

Owns reading ``action.yml`` (PyYAML), the small expression language the
action uses, the runner's files (``GITHUB_OUTPUT``, ``GITHUB_ENV``,
``GITHUB_PATH``) and running each ``run:`` step with ``bash --noprofile
--norc -eo pipefail``, GitHub's command for ``shell: bash``.

Only what our action.yml uses is supported, and anything else raises
:class:`UnsupportedError`, so a test can never pass by quietly skipping a step:

* ``${{ X }}`` where X is ``inputs.NAME``, ``github.action_path``,
  ``runner.temp``, ``steps.ID.outputs.NAME`` or ``env.NAME``;
* ``if:`` as ``X == 'literal'`` or ``X != 'literal'`` (GitHub compares
  strings ignoring case), with or without ``${{ }}``;
* step keys ``name``, ``id``, ``if``, ``shell`` (bash), ``env``, ``run``,
  ``working-directory``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["ActionFailed", "ActionRun", "UnsupportedError", "load_action", "run_action"]

BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")
_STEP_KEYS = frozenset({"name", "id", "if", "shell", "env", "run", "working-directory"})
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_REF = re.compile(
    rf"(inputs\.{_NAME}|github\.action_path|runner\.temp|steps\.{_NAME}\.outputs\.{_NAME}"
    rf"|env\.{_NAME})"
)
_IF = re.compile(rf"^\s*(?P<ref>{_REF.pattern})\s*(?P<op>==|!=)\s*'(?P<literal>[^']*)'\s*$")


class UnsupportedError(ValueError):
    """action.yml uses something this runner does not implement."""


class ActionFailed(AssertionError):
    """A step exited non-zero; the message has the step's name, status and output."""

    def __init__(self, step: str, status: int, output: str) -> None:
        super().__init__(f"step {step!r} exited with {status}:\n{output}")
        self.step, self.status, self.output = step, status, output


@dataclass(frozen=True, slots=True)
class ActionRun:
    """The action's outputs, each step's outputs (skipped: absent) and the full log."""

    outputs: dict[str, str]
    steps: dict[str, dict[str, str]]
    log: str


@dataclass(slots=True)
class _Context:
    inputs: dict[str, str]
    action_path: Path
    temp: Path
    env: dict[str, str]
    steps: dict[str, dict[str, str]] = field(default_factory=dict)

    def value(self, ref: str) -> str:
        head, _, rest = ref.partition(".")
        if head == "inputs":
            if rest not in self.inputs:
                raise UnsupportedError(f"action.yml reads undeclared input {rest!r}")
            return self.inputs[rest]
        if ref == "github.action_path":
            return str(self.action_path)
        if ref == "runner.temp":
            return str(self.temp)
        if head == "env":
            return self.env.get(rest, "")
        step_id, _, output = rest.partition(".outputs.")
        return self.steps.get(step_id, {}).get(output, "")

    def substitute(self, text: str) -> str:
        return _EXPR.sub(lambda m: self.value(_reference(m.group(1))), text)

    def condition(self, text: str) -> bool:
        inner = text.strip()
        if inner.startswith("${{") and inner.endswith("}}"):
            inner = inner[3:-2]
        match = _IF.match(inner)
        if match is None:
            raise UnsupportedError(f"unsupported if: {text!r}")
        left, op, literal = self.value(match["ref"]), match["op"], match["literal"]
        equal = left.casefold() == literal.casefold()
        return equal if op == "==" else not equal


def _reference(expr: str) -> str:
    ref = expr.strip()
    if _REF.fullmatch(ref) is None:
        raise UnsupportedError(f"unsupported expression ${{{{{expr}}}}}")
    return ref


def load_action(action_dir: Path) -> dict[str, Any]:
    """action.yml, checked to be a composite action."""
    action: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text())
    if action.get("runs", {}).get("using") != "composite":
        raise UnsupportedError("only composite actions are supported")
    return action


def read_pairs(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT/GITHUB_ENV file: ``name=value`` and ``name<<DELIM ... DELIM``."""
    pairs: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delimiter = line.partition("<<")
            body: list[str] = []
            for item in lines:
                if item == delimiter:
                    break
                body.append(item)
            else:
                raise AssertionError(f"{path.name}: {name} has no closing {delimiter!r}")
            pairs[name] = "\n".join(body)
        elif line:
            name, sep, value = line.partition("=")
            if not sep:
                raise AssertionError(f"{path.name}: malformed line {line!r}")
            pairs[name] = value
    return pairs


def _inputs(action: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    declared: dict[str, Any] = action.get("inputs") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UnsupportedError(f"inputs not declared in action.yml: {unknown}")
    return {name: given.get(name, _default(spec)) for name, spec in declared.items()}


def _default(spec: Mapping[str, Any] | None) -> str:
    return str((spec or {}).get("default", ""))


def run_action(
    action_dir: Path,
    inputs: Mapping[str, str],
    *,
    workspace: Path,
    temp: Path,
    environ: Mapping[str, str] | None = None,
) -> ActionRun:
    """Run every step of ``action_dir/action.yml`` with ``inputs``; raise
    :class:`ActionFailed` at the first failing step, as a runner stops there."""
    action = load_action(action_dir)
    ctx = _Context(_inputs(action, inputs), action_dir, temp, dict(os.environ))
    if environ is not None:
        ctx.env = dict(environ)
    log: list[str] = []
    for index, step in enumerate(action["runs"]["steps"]):
        _run_step(ctx, step, index, workspace, log)
    outputs = {
        name: ctx.substitute(str(spec["value"]))
        for name, spec in (action.get("outputs") or {}).items()
    }
    return ActionRun(outputs, ctx.steps, "".join(log))


def _run_step(
    ctx: _Context, step: Mapping[str, Any], index: int, workspace: Path, log: list[str]
) -> None:
    unknown = sorted(set(step) - _STEP_KEYS)
    if unknown or "run" not in step:
        raise UnsupportedError(f"step {index}: unsupported keys {unknown or ['uses']}")
    if step.get("shell") != "bash":
        raise UnsupportedError(f"step {index}: shell must be bash, not {step.get('shell')!r}")
    name = str(step.get("name", index))
    if "if" in step and not ctx.condition(str(step["if"])):
        return
    files = ctx.temp / f"_runner_files_{index}"
    files.mkdir(parents=True)
    paths = {key: files / key.lower() for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
    for path in paths.values():
        path.touch()
    script = files / "script.sh"
    script.write_text(ctx.substitute(str(step["run"])))
    env = {**ctx.env, **{k: str(p) for k, p in paths.items()}}
    env |= {"GITHUB_ACTION_PATH": str(ctx.action_path), "RUNNER_TEMP": str(ctx.temp)}
    env |= {"GITHUB_WORKSPACE": str(workspace)}
    env |= {str(k): ctx.substitute(str(v)) for k, v in (step.get("env") or {}).items()}
    cwd = workspace / ctx.substitute(str(step.get("working-directory", ".")))
    proc = subprocess.run(
        [*BASH, str(script)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    output = proc.stdout + proc.stderr
    log.append(f"--- {name}\n{output}")
    if proc.returncode != 0:
        raise ActionFailed(name, proc.returncode, output)
    if "id" in step:
        ctx.steps[str(step["id"])] = read_pairs(paths["GITHUB_OUTPUT"])
    ctx.env |= read_pairs(paths["GITHUB_ENV"])
    extra_path = [line for line in paths["GITHUB_PATH"].read_text().splitlines() if line]
    if extra_path:
        ctx.env["PATH"] = os.pathsep.join([*reversed(extra_path), ctx.env.get("PATH", "")])
