"""The README stays true: its config example loads, its commands exist, .ci/run runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

from proxy.cli import main
from proxy.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_config_example_is_valid(tmp_path):
    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block)
        load_settings(path)


def test_readme_commands_are_the_ones_ci_runs():
    assert "pip install -e . && tailor demo" in README
    assert "bash tests/run.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec bash tests/run.sh" in ci


def test_every_documented_subcommand_exists(capsys):
    for cmd in re.findall(r"^tailor (\w+)", README, re.M):
        try:
            main([cmd, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, cmd
