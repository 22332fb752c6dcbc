"""``ocibuild completion bash|zsh``: the scripts complete commands and flags in real shells."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from helpers.prereq import REPO, unavailable

from ocibuild import cli

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["completion", shell]) == 0
    return capsys.readouterr().out


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        unavailable(f"needs {tool} (apt-get install {tool})")
    assert found is not None
    return found


def _bash_complete(script: Path, words: list[str]) -> list[str]:
    """COMPREPLY after calling the script's function on ``words`` (the last is completed)."""
    line = " ".join(words)
    program = f"""
source {script}
COMP_WORDS=({" ".join(words)}); COMP_CWORD={len(words) - 1}
COMP_LINE='{line}'; COMP_POINT={len(line)}
_shtab_ocibuild ocibuild '{words[-1]}' '{words[-2]}'
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(
        [_need("bash"), "--norc", "-c", program], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_bash_completes_commands_and_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "ocibuild.bash"
    script.write_text(_script("bash", capsys))
    assert _bash_complete(script, ["ocibuild", "bu"]) == ["build"]
    assert _bash_complete(script, ["ocibuild", "build", "--prog"]) == ["--progress"]
    assert _bash_complete(script, ["ocibuild", "history", "--no"]) == ["--no-trunc"]
    assert "--print" in _bash_complete(script, ["ocibuild", "build", "--pr"])


def test_completion_does_not_load_shtab_for_other_commands() -> None:
    code = "import sys; from ocibuild import cli; cli.main(['images', '--help'])"
    probe = code + "; print('shtab' in sys.modules, file=sys.stderr)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert out.stderr.strip().endswith("False")


def _wait_for(session: str, text: str, tmux: str) -> str:
    screen = ""
    for _ in range(50):
        screen = subprocess.run(
            [tmux, "capture-pane", "-t", session, "-p"], capture_output=True, text=True, check=True
        ).stdout
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared:\n{screen}")


def test_zsh_script_parses_and_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zsh, tmux = _need("zsh"), _need("tmux")
    (tmp_path / "_ocibuild").write_text(_script("zsh", capsys))
    subprocess.run([zsh, "-n", str(tmp_path / "_ocibuild")], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ocibuild").write_text(f'#!/bin/sh\nexec {sys.executable} -m ocibuild "$@"\n')
    (bin_dir / "ocibuild").chmod(0o755)
    session = f"ocibuild-zsh-{os.getpid()}"
    env = f"env -i HOME={tmp_path} TERM=xterm PATH={bin_dir}:/usr/bin:/bin PYTHONPATH={REPO}"
    subprocess.run(
        [tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "30", f"{env} {zsh} -f"],
        check=True,
    )
    try:
        setup = f"fpath=({tmp_path} $fpath); autoload -Uz compinit; compinit -u -D; PS1='> '"
        subprocess.run([tmux, "send-keys", "-t", session, setup, "Enter"], check=True)
        _wait_for(session, "> ", tmux)
        subprocess.run([tmux, "send-keys", "-t", session, "ocibuild bu", "Tab"], check=True)
        _wait_for(session, "> ocibuild build", tmux)
        subprocess.run([tmux, "send-keys", "-t", session, " --prog", "Tab"], check=True)
        _wait_for(session, "--progress", tmux)
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], check=False)
