"""The README's "Many machines" section, followed as written on one machine: its commands with N
separate `tipsd run` processes against a local PostgreSQL, then its job-array script as three array
tasks. Only the placeholders change: the storage URL (the test server's) and the study (a tiny one).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from reliability_support import ROOT, postgres_url, record_figures, tally

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_url(), reason="TIPSD_TEST_POSTGRES_URL is not set (no PostgreSQL server)"),
]
WORKERS = 3


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Many machines"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def tiny_study(folder: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f"""name = "{name}"
seeds = [0, 1]
[space]
gamma_info = [0, 1]
gamma_s = [0.1, 1]
[train]
preset = "tiny"
overrides = {{ epochs = 1, max_train_samples = 16, max_val_samples = 16 }}
[run]
heartbeat_s = 1
grace_s = 3
""")
    return path


def env_for(url: str) -> dict[str, str]:
    env = dict(os.environ, TIPSD_STORAGE=url, OMP_NUM_THREADS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `tipsd` as installed
    env.pop("TIPSD_KILL_AT", None)
    return env


def test_readme_many_machines_commands_as_written(tmp_path):
    commands, _ = readme_blocks()
    lines = [line.split("  #")[0].strip() for line in commands.strip().splitlines()]
    assert lines[0].startswith("pip install -e \".[postgres]\"")  # done already: this is the installed tipsd
    assert lines[1].startswith("export TIPSD_STORAGE=postgresql+psycopg://")
    run_line, status_line = lines[2], lines[3]
    assert run_line.startswith("tipsd run studies/table1.toml") and status_line.startswith("tipsd status")
    name = f"readme-{uuid.uuid4().hex[:8]}"
    study = tiny_study(tmp_path, name)
    env = env_for(postgres_url())  # `export TIPSD_STORAGE=...` with this server's URL
    run_line = run_line.replace("studies/table1.toml", str(study))
    procs = [subprocess.Popen(["bash", "-c", run_line], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(WORKERS)]  # "on each of the N machines"
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * WORKERS, outs
    status = subprocess.run(["bash", "-c", status_line], env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert status.returncode == 0, status.stderr.decode()
    assert f"{name} (grid)" in status.stdout.decode() and "runs: 8/8 done (100%), 0 running, 0 given up" in \
        status.stdout.decode()
    t = tally(postgres_url(), name)
    assert len(t.complete_jobs) == 8 and t.double_counted == 0 and t.running == 0
    record_figures("readme", case="commands", processes=WORKERS, runs=8, complete_once=8,
                   workers_that_trained=sum(" COMPLETE " in out for out in outs))


def test_readme_job_array_script_as_three_tasks(tmp_path):
    _, script = readme_blocks()
    assert script.startswith("#!/bin/bash\n#SBATCH")
    path = tmp_path / "tipsd-array.sh"
    path.write_text(script)
    name = f"array-{uuid.uuid4().hex[:8]}"
    env = env_for(postgres_url())
    env["STUDY"] = str(tiny_study(tmp_path, name))
    procs = [subprocess.Popen(["bash", str(path)], env=dict(env, SLURM_ARRAY_TASK_ID=str(i), SLURM_CPUS_PER_TASK="1"),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in range(1, WORKERS + 1)]
    outs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * WORKERS, outs
    assert all(f"worker {i} on " in out for i, out in enumerate(outs, 1))
    assert all(f"{name}: 8/8 runs done, 0 given up" in out for out in outs), outs
    t = tally(postgres_url(), name)
    assert len(t.complete_jobs) == 8 and t.double_counted == 0 and t.running == 0
    record_figures("readme", case="job array", tasks=WORKERS, runs=8, complete_once=8)
