"""Every Python example in the README runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


COMMANDS = [ln.strip() for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
            for ln in block.splitlines() if ln.strip().startswith("chainrule ")]  # fmt: skip


def test_readme_has_commands():
    assert any(c.startswith("chainrule train") for c in COMMANDS)


def test_readme_commands_run(tmp_path, monkeypatch, capsys):
    """The README's chainrule commands, in order (evaluate reads what train wrote), from a scratch folder."""
    import shlex

    from chainrule.cli import main

    pytest.importorskip("sklearn", reason="the digits examples need scikit-learn (the data extra)")
    monkeypatch.chdir(tmp_path)
    for command in COMMANDS:
        assert main(shlex.split(command)[1:]) == 0, command
    assert "accuracy" in capsys.readouterr().out
