"""No password of a storage URL in any output, stored attribute, report or dashboard response.

A study file holds ``storage = "postgresql+psycopg://postgres:<password>@..."`` (the test server trusts
every connection, so any password connects); every command that takes a storage runs on it as a real
process, the dashboard is queried, the report files are read, and every attribute row of the
database is dumped; the password must appear in none of them.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from reliability_support import postgres_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_url(), reason="TIPSD_TEST_POSTGRES_URL is not set (no PostgreSQL server)"),
]
SECRET = "pw-" + uuid.uuid4().hex[:12]


def _tipsd(args: list[str], cwd: Path) -> tuple[int, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "tipsd.sweep.cli", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=600)
    return proc.returncode, proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def test_no_password_in_any_output_attribute_report_or_dashboard_response(tmp_path):
    url = sa.engine.make_url(postgres_url()).set(password=SECRET).render_as_string(hide_password=False)
    assert SECRET in url
    name = f"secret-{uuid.uuid4().hex[:8]}"
    study = tmp_path / "s.toml"
    study.write_text(f"""name = "{name}"
storage = "{url}"
seeds = [0]
[space]
gamma_info = [0, 1]
[train]
preset = "tiny"
overrides = {{ epochs = 1, max_train_samples = 16, max_val_samples = 16 }}
""")
    seen: dict[str, str] = {}
    expected = {
        "run": (["run", str(study)], 0),  # with the progress bar
        "run resumed, 2 workers": (["run", str(study), "--workers", "2"], 0),
        "status": (["status", "--storage", url], 0),
        "table": (["table", name, "--storage", url], 0),
        "export": (["export", name, "--storage", url], 0),
        "heatmap": (["heatmap", name, "--storage", url, "-o", str(tmp_path / "h.png")], 0),
        "importance": (["importance", name, "--storage", url], 0),
        "report": (["report", name, "--storage", url, "-o", str(tmp_path / "rep")], 0),
        "unknown study": (["table", "nosuch", "--storage", url], 2),
        "changed spec": (["run", str(study), "--preset", "quick"], 2),
        "unreachable": (["status", "--storage", url.replace(str(sa.engine.make_url(url).port), "1")], 2),
        "unreachable --debug": (["status", "--debug", "--storage", url.replace(str(sa.engine.make_url(url).port), "1")], 2),
        "bad URL": (["status", "--storage", url.replace("postgresql+psycopg", "postgresql+nosuchdriver")], 2),
    }
    for what, (args, code) in expected.items():
        rc, out = _tipsd(args, tmp_path)
        assert rc == code, f"{what}: {out[-2000:]}"
        seen[what] = out
    assert "resuming: 2 of 2 runs done" in seen["run resumed, 2 workers"]
    assert "postgres:***@" in seen["run"] and "postgres:***@" in seen["status"]
    assert "Traceback" in seen["unreachable --debug"]
    for f in ("report.md", "report.html"):
        seen[f] = (tmp_path / "rep" / f).read_text()

    port = _free_port()
    log = tmp_path / "dashboard.log"
    with open(log, "wb") as fh:
        dash = subprocess.Popen([sys.executable, "-m", "tipsd.sweep.cli", "dashboard", "--storage", url, "--port",
                                 str(port), "--artifact-dir", str(tmp_path / "art")], stdout=fh, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                studies = _get(f"{base}/api/studies")
                break
            except OSError:
                assert time.monotonic() < deadline and dash.poll() is None, log.read_text()
                time.sleep(0.3)
        seen["dashboard /api/studies"] = studies
        for s in json.loads(studies)["study_summaries"]:
            if s["study_name"] == name:
                seen["dashboard study"] = _get(f"{base}/api/studies/{s['study_id']}?after=0")
        assert name in seen["dashboard study"] and "tipsd" in seen["dashboard study"]
    finally:
        dash.terminate()
        dash.wait(timeout=20)
    seen["dashboard output"] = log.read_text()
    assert "postgres:***@" in seen["dashboard output"]

    engine = sa.create_engine(postgres_url())
    with engine.connect() as conn:
        for table in ("study_user_attributes", "study_system_attributes", "trial_user_attributes",
                      "trial_system_attributes"):
            rows = conn.execute(sa.text(f"SELECT key, value_json FROM {table}")).all()
            seen[f"stored {table}"] = "\n".join(f"{k}={v}" for k, v in rows)
    engine.dispose()
    assert name in seen["stored study_user_attributes"]

    leaks = [what for what, text in seen.items() if SECRET in text]
    assert leaks == [], f"the password appears in: {leaks}"
