"""Record every `tipsd` command's output on the smoke study, to compare two versions of the code.

A refactoring must not change what a command prints. This script runs each command in-process
(`tipsd.sweep.cli.main`) in a scratch folder and writes, per command, its arguments, exit code,
stdout and stderr, plus the sha256 of every file it wrote; `compare` diffs two such records.

    # once, with the old code: a stored smoke study that both versions will read
    TIPSD_CACHE_DIR=/tmp/snap/cache tipsd run studies/smoke.toml --storage sqlite:////tmp/snap/smoke.db
    python benchmarks/cli_snapshot.py record /tmp/snap/before --db /tmp/snap/smoke.db --cache /tmp/snap/cache
    # ... change the code ...
    python benchmarks/cli_snapshot.py record /tmp/snap/after --db /tmp/snap/smoke.db --cache /tmp/snap/cache
    python benchmarks/cli_snapshot.py compare /tmp/snap/before /tmp/snap/after

The analysis commands read a copy of the same stored study, so their output must be byte-identical.
`run` (a fresh smoke study) and `train` print timings: only their stable parts are kept (the
finished runs' weights, seeds, values and metrics; the training metrics and losses).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

STUDY = "smoke"
S = "sqlite:///smoke.db"
REPO = Path(__file__).resolve().parents[1]
# Columns of `tipsd export` that hold timings, dates or the machine (not stable between two runs).
UNSTABLE = ("duration_s", "frames_per_s", "peak_mem_mb", "datetime_start", "datetime_complete", "number",
            "tipsd_version")


def analysis_commands() -> list[list[str]]:
    """Every command that reads the stored smoke study (plus the paper tables and error paths)."""
    st = ["--storage", S]
    cmds = [["status", *st]]
    for fmt in ("markdown", "latex", "csv"):
        cmds.append(["table", STUDY, *st, "--format", fmt])
        cmds.append(["table", STUDY, *st, "--format", fmt, "--joints", "gamma_info=1,gamma_s=0.1"])
        cmds.append(["table", STUDY, *st, "--format", fmt, "--joints", "gamma_info=1", "--joints", "gamma_info=0"])
        for paper in ("table1", "table2"):
            cmds.append(["paper", paper, "--format", fmt])
    cmds += [
        ["table", STUDY, *st, "--metric", "oks_ap"],
        ["table", STUDY, *st, "--metric", "L_com", "--decimals", "3"],
        ["table", STUDY, *st, "--metric", "Head", "--format", "latex"],
        ["table", STUDY, *st, "--rows", "gamma_s", "--cols", "gamma_info"],
        ["table", STUDY, *st, "--where", "gamma_s=0.1"],
        ["table", STUDY, *st, "--where", "gamma_s=0.1", "--format", "latex"],
        ["table", STUDY, *st, "-o", "table.md"],
        ["compare", STUDY, *st, "--paper", "table1"],
        ["compare", STUDY, *st, "--paper", "table1", "--baseline", "0.2", "--decimals", "1"],
        ["compare", STUDY, *st, "--paper", "table2"],
        ["compare", STUDY, *st, "--paper", "table1", "--metric", "oks_ap"],
        ["importance", STUDY, *st],
        ["importance", STUDY, *st, "--format", "csv"],
        ["importance", STUDY, *st, "--metric", "oks_ap", "--seed", "3"],
        ["export", STUDY, *st],
        ["export", STUDY, *st, "--all-states"],
        ["export", STUDY, *st, "-o", "runs.csv"],
        ["heatmap", STUDY, *st, "-o", "heatmap.png"],
        ["heatmap", STUDY, *st, "-o", "heatmap-oks.png", "--metric", "oks_ap", "--decimals", "2"],
        ["report", STUDY, *st, "-o", "report", "--no-upload"],
        ["report", STUDY, *st, "-o", "report-up"],
        ["report", STUDY, *st, "-o", "report-l", "--no-upload", "--metric", "L_s", "--baseline", "0.1"],
        # errors: one line, exit code
        ["table", "nosuch", *st],
        ["table", STUDY, "--storage", "sqlite:///missing.db"],
        ["status", "--storage", "sqlite:///missing.db"],
        ["table", STUDY, *st, "--metric", "bogus"],
        ["table", STUDY, *st, "--rows", "gamma_var"],
        ["table", STUDY, *st, "--rows", "gamma_info", "--cols", "gamma_info"],
        ["table", STUDY, *st, "--where", "gamma_s=7"],
        ["table", STUDY, *st, "--decimals", "-1"],
        ["table", STUDY, *st, "--where", "nonsense"],
        ["heatmap", STUDY, *st, "-o", "heatmap.txt"],
        ["heatmap", STUDY, *st, "-o", "no/such/folder/h.png"],
        ["export", STUDY, *st, "--format", "parquet"],
        ["table", STUDY, *st, "-o", "no/such/folder/t.md"],
        ["report", STUDY, *st, "-o", "/proc/no-such-report"],
        ["run", "smoke.toml", *st, "--no-progress"],
        ["run", "smoke.toml", *st, "--workers", "0"],
        ["run", "smoke.toml", *st, "--device", "nonsense"],
        [],
        ["--no-such-option"],
        ["data"],
    ]
    for bad in sorted((REPO / "tests" / "bad_studies").glob("*.toml")):
        if "unreachable" not in bad.name:  # those try to connect (slow, machine-dependent)
            cmds.append(["run", str(bad.relative_to(REPO))])
    return cmds


def help_commands() -> list[list[str]]:
    """``--help`` of `tipsd` and of every (sub)command."""
    from tipsd.sweep.cli import build_parser

    def walk(parser, path):
        yield [*path, "--help"]
        sub = parser._subparsers
        for action in sub._group_actions if sub else []:
            for name, child in action.choices.items():
                yield from walk(child, [*path, name])

    return list(walk(build_parser(), []))


def model_commands() -> list[list[str]]:
    """Data, eval and train commands (inputs made by `prepare_model_inputs`)."""
    cmds = [
        ["data", "check", "synth:tiny"],
        ["data", "check", "synth:tiny", "--json"],
        ["data", "check", "no-such-folder"],
        ["data", "check", "bad-data"],
        ["data", "synth", "--out", "synth-out", "--preset", "tiny", "--seed", "1"],
        ["data", "synth", "--out", "synth-bad", "--preset", "huge"],
        ["train", "--preset", "tiny", "--set", "epochs=1", "--set", "max_train_samples=16",
         "--set", "max_val_samples=16", "--format", "json"],
        ["train", "--preset", "tiny", "--set", "epochs=1", "--set", "max_train_samples=16",
         "--set", "max_val_samples=16"],
        ["train", "--preset", "tiny", "--set", "nosuchkey=1"],
        ["train", "--preset", "tiny", "--resume"],
    ]
    for fmt in ("table", "json", "csv"):
        cmds.append(["eval", "gt", "preds", "--format", fmt])
    cmds += [
        ["eval", "gt", "preds-partial"],
        ["eval", "gt", "preds-partial", "--allow-missing"],
        ["eval", "gt", "preds-bad"],
        ["eval", "gt", "no-such-folder"],
        ["eval", "empty", "preds"],
    ]
    return cmds


def prepare_model_inputs(work: Path) -> None:
    """GT = the tiny synthetic val split; predictions = GT joints moved by a seeded offset."""
    import numpy as np

    from tipsd.model.data import resolve_dataset
    from tipsd.model.eval import load_video_dir, prediction_video, write_predictions

    root = resolve_dataset("synth:tiny")
    shutil.copytree(root / "annotations" / "val", work / "gt")
    rng = np.random.default_rng(0)
    preds = {}
    for name, video in load_video_dir(work / "gt").items():
        anns = video["annotations"]
        kp = np.array([a["keypoints"] for a in anns], float).reshape(len(anns), 17, 3)
        kp[:, :, :2] += rng.normal(0, 2.0, kp[:, :, :2].shape)
        scores = rng.uniform(0.2, 1.0, kp.shape[:2])
        preds[name] = prediction_video(video["images"], [a["image_id"] for a in anns], kp[:, :, :2],
                                       joint_scores=scores)
    write_predictions(preds, work / "preds")
    write_predictions(dict(list(preds.items())[:1]), work / "preds-partial")
    shutil.copytree(work / "preds", work / "preds-bad")
    first = sorted((work / "preds-bad").glob("*.json"))[0]
    first.write_text(first.read_text()[:-20])
    (work / "empty").mkdir()
    shutil.copytree(root, work / "bad-data", ignore=shutil.ignore_patterns("*.jpg"))
    one = sorted((work / "bad-data" / "annotations" / "train").glob("*.json"))[0]
    doc = json.loads(one.read_text())
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:-3]
    one.write_text(json.dumps(doc))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``tipsd ARGV`` in-process: (exit code, stdout, stderr)."""
    from tipsd.sweep.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help, --version
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def stable(argv: list[str], text: str) -> str:
    """The part of a command's output that does not depend on timing or the machine."""
    if argv[:1] == ["train"] and "--format" in argv and text.startswith("{"):
        result = json.loads(text)
        for key in ("duration_s", "frames_per_s", "peak_mem_mb"):
            result.pop(key)
        for row in result["history"]:
            row.pop("seconds")
        return json.dumps(result, indent=2, sort_keys=True) + "\n"
    if argv[:1] == ["train"]:
        return re.sub(r"device .*", "device <timings>", text)
    text = re.sub(r"in \d+(\.\d+)? s\b", "in <t> s", text)
    return text


def files_digest(work: Path, before: set[Path]) -> str:
    """sha256 of every file a command wrote under `work` (artifact ids are random: names only)."""
    lines = []
    for path in sorted(p for p in work.rglob("*") if p.is_file() and p not in before):
        rel = path.relative_to(work).as_posix()
        if "-artifacts/" in rel:
            lines.append(f"{rel.split('/')[0]}/<artifact> (random id)")
        elif rel.endswith((".db", ".db-wal", ".db-shm")):
            continue
        else:
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}")
    return "\n".join(sorted(lines))


def fresh_run(work: Path) -> str:
    """Run the smoke study into a new storage; its finished runs without timings, sorted by job."""
    import pandas as pd

    code, out, err = run_cli(["run", "smoke.toml", "--storage", "sqlite:///fresh.db", "--no-progress"])
    code2, csv_text, err2 = run_cli(["export", STUDY, "--storage", "sqlite:///fresh.db", "--all-states"])
    frame = pd.read_csv(io.StringIO(csv_text))
    frame = frame.drop(columns=[c for c in UNSTABLE if c in frame]).sort_values(["job"]).reset_index(drop=True)
    summary = re.sub(r"\d+ trials this session in \d+ s", "<n> trials this session in <t> s", out.splitlines()[-1])
    # Workers pick jobs in random order: drop the trial number and the timing, sort by job.
    lines = sorted(re.sub(r"^trial \d+\s+|\s+[\d.]+ s$", "", line) for line in out.splitlines()[:-1])
    return (f"exit {code} {code2}\n{summary}\n" + "\n".join(lines) + "\n" + err + err2
            + frame.to_csv(index=False))


def record(out_dir: Path, db: Path, cache: Path, *, skip_train: bool = False) -> None:
    """Run every command in a scratch folder next to `out_dir`; write one file per command."""
    os.environ["TIPSD_CACHE_DIR"] = str(cache.resolve())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["SOURCE_DATE_EPOCH"] = "0"  # matplotlib writes it as the PDF's creation date
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width
    out_dir = out_dir.resolve()
    work = out_dir.with_name(out_dir.name + "-work")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    work.mkdir(parents=True)
    out_dir.mkdir(parents=True)
    shutil.copy(db, work / "smoke.db")
    shutil.copy(REPO / "studies" / "smoke.toml", work / "smoke.toml")
    (work / "tests").symlink_to(REPO / "tests")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        import torch

        torch.set_num_threads(1)
        prepare_model_inputs(work)
        commands = analysis_commands() + help_commands() + model_commands()
        if skip_train:
            commands = [c for c in commands if c[:1] != ["train"] or "--help" in c]
        timings = []
        for i, argv in enumerate(commands):
            before = {p for p in work.rglob("*") if p.is_file()}
            t0 = time.perf_counter()
            code, out, err = run_cli(argv)
            timings.append(f"{time.perf_counter() - t0:6.1f} s  tipsd {' '.join(argv)}")
            files = files_digest(work, before)
            text = (f"$ tipsd {' '.join(argv)}\nexit {code}\n--- stdout\n{stable(argv, out)}"
                    f"--- stderr\n{stable(argv, err)}--- files\n{files}\n")
            (out_dir / f"{i:03d}.txt").write_text(text)
        (out_dir / "fresh-run.txt").write_text(fresh_run(work))
        (work / "timings.log").write_text("\n".join(timings) + "\n")
    finally:
        os.chdir(cwd)
    print(f"recorded {len(commands)} commands + a fresh smoke run in {out_dir}")


def compare(a: Path, b: Path) -> int:
    """Print the commands whose records differ; exit code 1 if any does."""
    import difflib

    names = sorted({p.name for p in a.glob("*.txt")} | {p.name for p in b.glob("*.txt")})
    differ = 0
    for name in names:
        ta = (a / name).read_text() if (a / name).exists() else ""
        tb = (b / name).read_text() if (b / name).exists() else ""
        if ta != tb:
            differ += 1
            print("".join(difflib.unified_diff(ta.splitlines(True), tb.splitlines(True), f"a/{name}", f"b/{name}")))
    print(f"{len(names) - differ} of {len(names)} records identical, {differ} differ")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    rec = sub.add_parser("record", help="record every command's output")
    rec.add_argument("out", type=Path)
    rec.add_argument("--db", type=Path, required=True, help="a SQLite file holding the smoke study")
    rec.add_argument("--cache", type=Path, required=True, help="TIPSD_CACHE_DIR (synth:tiny is generated there)")
    rec.add_argument("--skip-train", action="store_true", help="leave out `tipsd train` (slow)")
    cmp_ = sub.add_parser("compare", help="diff two records")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.what == "record":
        record(args.out, args.db, args.cache, skip_train=args.skip_train)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
