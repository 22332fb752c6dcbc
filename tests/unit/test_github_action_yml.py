"""action.yml read as data: no script injection, no dead or undocumented inputs,
and the local runner (tests/helpers/github_action.py) refusing what it cannot run."""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from helpers.github_action import (
    ActionFailed,
    UnsupportedError,
    load_action,
    read_pairs,
    run_action,
)
from helpers.prereq import REPO

if TYPE_CHECKING:
    from pathlib import Path

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return load_action(REPO)


def _steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = action["runs"]["steps"]
    return steps


def test_no_run_script_contains_an_expression(action: dict[str, Any]) -> None:
    """Inputs reach bash through env only: ``${{ }}`` in run: would be script text."""
    for step in _steps(action):
        assert "${{" not in step["run"], step["name"]


def test_every_input_is_used_and_every_reference_declared(action: dict[str, Any]) -> None:
    used: set[str] = set()
    for step in _steps(action):
        texts = [str(v) for v in (step.get("env") or {}).values()] + [str(step.get("if", ""))]
        for text in texts:
            used |= set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert used == set(action["inputs"])


def test_the_install_step_runs_by_default(action: dict[str, Any]) -> None:
    assert action["inputs"]["install"]["default"] == "true"
    install = next(s for s in _steps(action) if s.get("id") == "install")
    assert install["if"] == "inputs.install == 'true'"


def _documented(section: str) -> set[str]:
    doc = (REPO / "docs" / "github-action.md").read_text()
    body = doc.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", body, re.MULTILINE))


def test_docs_list_every_input_and_output(action: dict[str, Any]) -> None:
    assert _documented("Inputs") == set(action["inputs"])
    assert _documented("Outputs") == set(action["outputs"])


def _fake_action(tmp_path: Path, steps: str, inputs: str = "") -> Path:
    text = f"name: fake\ninputs:\n  x:\n    default: dflt\n{inputs}runs:\n  using: composite\n"
    (tmp_path / "action.yml").write_text(text + "  steps:\n" + textwrap.indent(steps, "    "))
    return tmp_path


def _run(action_dir: Path, inputs: dict[str, str]) -> dict[str, dict[str, str]]:
    temp = action_dir / "temp"
    temp.mkdir(exist_ok=True)
    return run_action(action_dir, inputs, workspace=action_dir, temp=temp).steps


def test_runner_evaluates_if_ignoring_case_and_passes_env(tmp_path: Path) -> None:
    steps = """\
- id: a
  if: inputs.x == 'YES'
  shell: bash
  env: {X: "${{ inputs.x }}", T: "${{ runner.temp }}"}
  run: echo "got=$X in $T" >> "$GITHUB_OUTPUT"
- id: b
  if: ${{ inputs.x != 'yes' }}
  shell: bash
  run: echo "ran=1" >> "$GITHUB_OUTPUT"
"""
    ran = _run(_fake_action(tmp_path, steps), {"x": "yes"})
    assert ran == {"a": {"got": f"yes in {tmp_path / 'temp'}"}}


@pytest.mark.parametrize(
    "step",
    [
        "- {shell: bash, if: \"inputs.x == 'a' && inputs.x == 'b'\", run: 'true'}\n",
        "- {shell: bash, if: \"success()\", run: 'true'}\n",
        "- {shell: bash, env: {A: '${{ github.sha }}'}, run: 'true'}\n",
        "- {shell: bash, env: {A: '${{ inputs.x || 1 }}'}, run: 'true'}\n",
        "- {shell: bash, env: {A: '${{ inputs.nope }}'}, run: 'true'}\n",
        "- {shell: sh, run: 'true'}\n",
        "- {uses: actions/checkout@v4}\n",
        "- {shell: bash, run: 'true', continue-on-error: true}\n",
    ],
)
def test_runner_refuses_what_it_cannot_run(tmp_path: Path, step: str) -> None:
    with pytest.raises(UnsupportedError):
        _run(_fake_action(tmp_path, step), {})


def test_runner_refuses_undeclared_inputs(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match="not declared"):
        _run(_fake_action(tmp_path, "- {shell: bash, run: 'true'}\n"), {"y": "1"})


def test_runner_stops_at_a_failing_step(tmp_path: Path) -> None:
    steps = "- {name: one, shell: bash, run: 'echo oops; false'}\n- {shell: bash, run: 'true'}\n"
    with pytest.raises(ActionFailed) as info:
        _run(_fake_action(tmp_path, steps), {})
    assert (info.value.step, info.value.status, info.value.output) == ("one", 1, "oops\n")


def test_output_file_heredocs(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a=1=2\nb<<EOF\nline 1\nx=y\nEOF\nc=\n")
    assert read_pairs(path) == {"a": "1=2", "b": "line 1\nx=y", "c": ""}
    path.write_text("b<<EOF\nnever closed\n")
    with pytest.raises(AssertionError, match="no closing"):
        read_pairs(path)


def test_docs_workflow_parses_and_uses_only_declared_inputs(action: dict[str, Any]) -> None:
    doc = (REPO / "docs" / "github-action.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL)
    steps = yaml.safe_load(block)["jobs"]["build"]["steps"]
    build = next(s for s in steps if s.get("id") == "build")
    assert set(build["with"]) <= set(action["inputs"])
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "${{ steps.build.outputs.tarball }}"
