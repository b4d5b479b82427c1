"""Screenshots of what a user sees: optuna-dashboard's page of a study and of its companion study of
cells, and the HTML report, taken in Debian's headless `chromium` (installed with apt-get if missing).

It runs studies/smoke.toml (tiny preset, 8 runs) into a fresh SQLite file, writes `tipsd report`, starts
`tipsd dashboard` on a free port and writes into --out:

    dashboard-study.png   the smoke study (one trial per run) and its artifacts (the report's figures)
    dashboard-note.png    its note: which view answers what, the table, the signal line, the spec
    dashboard-cells.png   smoke.cells (one trial per cell, value = seed mean)
    report.png            report.html, top of the page

Usage:
    python benchmarks/screenshots.py --out docs/examples
"""
from __future__ import annotations

import os
import sys

# benchmarks/signal.py would shadow the standard library's `signal` (which subprocess imports)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIPSD = [sys.executable, "-m", "tipsd.sweep.cli"]


def ensure_chromium() -> str:
    """The chromium binary, installed from Debian's package when it is missing."""
    found = shutil.which("chromium")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("chromium") or sys.exit("chromium is still missing after apt-get install")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def shoot(chromium: str, url: str, path: Path, *, width: int = 1400, height: int = 1600) -> None:
    """One headless screenshot of `url`; the virtual-time budget lets the dashboard's scripts draw."""
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", "--virtual-time-budget=20000",
                    f"--screenshot={path}", url], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/examples", help="folder for the PNGs (default: docs/examples)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chromium = ensure_chromium()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/tipsd.db"
        subprocess.run([*TIPSD, "run", str(ROOT / "studies/smoke.toml"), "--storage", url, "--no-progress"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*TIPSD, "report", "smoke", "--storage", url, "-o", f"{tmp}/report"], check=True)
        port = free_port()
        dash = subprocess.Popen([*TIPSD, "dashboard", "--storage", url, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    studies = {s["study_name"]: s["study_id"]
                               for s in get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]}
                    break
                except OSError:
                    if time.monotonic() > deadline or dash.poll() is not None:
                        sys.exit("the dashboard did not start")
                    time.sleep(0.5)
            base = f"http://127.0.0.1:{port}/dashboard/studies"
            shoot(chromium, f"{base}/{studies['smoke']}", out / "dashboard-study.png", height=3400)
            shoot(chromium, f"{base}/{studies['smoke']}/note", out / "dashboard-note.png", height=1600)
            shoot(chromium, f"{base}/{studies['smoke.cells']}", out / "dashboard-cells.png", height=2400)
        finally:
            dash.terminate()
            dash.wait(timeout=10)
        shoot(chromium, f"file://{tmp}/report/report.html", out / "report.png", height=3000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
