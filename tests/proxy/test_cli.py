"""The `tailor` command as an operator runs it: real subprocesses, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tailor(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proxy", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_check_accepts_the_example_config():
    r = tailor("check", str(EXAMPLES / "tailor.toml"))
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_check_names_file_line_and_expectation(tmp_path):
    bad = tmp_path / "tailor.toml"
    bad.write_text('[proxy]\norigin = "http://127.0.0.1:8000"\n\n[[personas]]\nname = "camper"\nwhen = { affinity = "camping", above = 7 }\n')
    r = tailor("check", str(bad))
    assert r.returncode == 2
    assert f"{bad}:6:" in r.stderr
    assert "1.0" in r.stderr and "above" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_key_and_bad_toml_are_reported_not_crashed(tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text("[proxy]\norigin = 'http://x'\nprot = 8080\n")
    r = tailor("check", str(typo))
    assert r.returncode == 2 and f"{typo}:3:" in r.stderr and "prot" in r.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[proxy\norigin = \n")
    r = tailor("check", str(broken))
    assert r.returncode == 2 and "invalid TOML" in r.stderr and "Traceback" not in r.stderr
    r = tailor("check", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read config" in r.stderr


def test_serve_without_origin_says_so(tmp_path):
    r = tailor("serve", "--port", "0", cwd=tmp_path)
    assert r.returncode == 2
    assert "no origin" in r.stderr
