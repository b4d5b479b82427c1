#!/usr/bin/env bash
# Issue 13, acceptance 3: the quick Table I study with racing (min 3, max 10 seeds), and what it
# resolved, written next to this script. One command, from the repository root:
#     bash docs/examples/table1-racing/run.sh
# Resumable: run it again after an interruption (the storage keeps every finished run).
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)"
db="${TIPSD_STORAGE:-sqlite:///$out/tipsd.db}"
start=$(date +%s)
tipsd run studies/table1-racing.toml --storage "$db" --workers 2 --no-progress | tee "$out/run.log"
echo "wall: $(( $(date +%s) - start )) s (this call)" | tee -a "$out/run.log"
tipsd status --storage "$db"                                   > "$out/status.txt"
tipsd table table1-racing --storage "$db"                      > "$out/table.md"
tipsd heatmap table1-racing --storage "$db" -o "$out/heatmap.png"
tipsd compare table1-racing --storage "$db" --paper table1     > "$out/compare.md"
tipsd report table1-racing --storage "$db" -o "$out/report"
cat "$out/status.txt" "$out/table.md"
