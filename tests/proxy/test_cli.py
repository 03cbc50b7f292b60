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


def _journal(tmp_path: Path) -> Path:
    """Events for two visitors through the real store (the collector's own write path)."""
    import asyncio
    import time

    import msgspec

    from proxy.decision_ids import make_id
    from proxy.events import Event
    from proxy.profile_store import ProfileStore
    from proxy.settings import load_settings

    data = tmp_path / "data"
    settings = load_settings(EXAMPLES / "tailor.toml", data_dir=str(data))
    now = time.time()
    decode = msgspec.json.Decoder(Event).decode

    def ev(n: int, body: str) -> Event:
        return decode(('{"id":"evt-%08d","ts":%d,' % (n, now * 1000)) + body)

    urgent = make_id(variant="urgent", experiment="promo-tone", arm="urgent", nonce="abc123")
    calm = make_id(variant="calm", experiment="promo-tone", arm="calm", nonce="abc124")

    async def fill() -> None:
        store = await ProfileStore.open(settings)
        try:
            await store.record("visitor-a", [ev(1, f'"type":"exposure","slot":"promo","decision":"{urgent}"}}'),
                                             ev(2, '"type":"click","item":"tent-2p","slot":"promo"}')],
                               received=now, gpc=False, ip="127.0.0.1", user_agent="Mozilla/5.0")
            await store.record("visitor-b", [ev(3, f'"type":"exposure","slot":"promo","decision":"{calm}"}}')],
                               received=now, gpc=False, ip="127.0.0.1", user_agent="Mozilla/5.0")
        finally:
            await store.close()

    asyncio.run(fill())
    return data


def test_events_export_writes_every_journaled_event_as_ndjson(tmp_path):
    import json

    data = _journal(tmp_path)
    out = tmp_path / "events.ndjson"
    r = tailor("events", "export", "--data-dir", str(data), "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3
    assert "exported 3 events" in r.stderr


def test_report_prints_exposures_and_conversions_per_arm(tmp_path):
    import json

    data = _journal(tmp_path)
    r = tailor("report", "--config", str(EXAMPLES / "tailor.toml"), "--data-dir", str(data), "--json")
    assert r.returncode == 0, r.stderr
    text = json.dumps(json.loads(r.stdout))
    assert "promo-tone" in text
    r = tailor("report", "--config", str(EXAMPLES / "tailor.toml"), "--data-dir", str(data))
    assert r.returncode == 0 and "promo-tone" in r.stdout and "urgent" in r.stdout


def test_report_on_an_empty_data_dir_is_not_a_crash(tmp_path):
    r = tailor("report", "--data-dir", str(tmp_path / "nothing-yet"))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_running_app_feeds_the_bandit_from_the_journal(tmp_path):
    import asyncio

    from proxy.app import create_app
    from proxy.settings import load_settings

    data = _journal(tmp_path)
    settings = load_settings(EXAMPLES / "tailor.toml", origin="http://127.0.0.1:9", data_dir=str(data))
    app = create_app(settings)

    async def run():
        await app.startup()
        try:
            return app._arm_stats(app.services)
        finally:
            await app.shutdown()

    stats = asyncio.run(run())
    assert stats["promo-tone"]["urgent"].exposures == 1 and stats["promo-tone"]["urgent"].conversions == 1
    assert stats["promo-tone"]["calm"].conversions == 0
