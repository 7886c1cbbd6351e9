#!/usr/bin/env bash
# The one test command. On a fresh machine with only `dotnet`, it sets up everything the tests need
# (a private PostgreSQL run as the postgres user on a free port; QEMU and binutils from apt when missing, and
# our boot-sector guest built with GNU as), builds the solution in Release with
# warnings as errors, runs every test project, stops what it started, and prints a last line
#   N passed, N failed[, N skipped]
# Exit status is non-zero when any test failed or any step broke.
# Every test class carries one category trait (tests/Shared/TestCategory.cs): Unit, Cluster (in-process
# Orleans cluster), Postgres, Qemu, Lab, Slow. The fast lane runs Unit and Cluster only, with no PostgreSQL
# or QEMU setup (a few minutes on 2 cores); it still builds with warnings as errors and prints the last line.
#
#   tests/run.sh                 # everything
#   tests/run.sh --fast          # only Category=Unit|Category=Cluster; no PostgreSQL, no QEMU
#   tests/run.sh --filter EXPR   # pass a dotnet test filter to every project (e.g. Category!=Slow);
#                                # with --fast, both must match
#   tests/run.sh --accel tcg     # force the QEMU tests' accelerator (auto, kvm or tcg; default auto: KVM only
#                                # when /dev/kvm opens and runs the probe guest at speed)
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
filter=()
fast=0
accel=auto
user_filter=""
while [ $# -gt 0 ]; do
    case "$1" in
        --filter) [ $# -ge 2 ] || { echo "tests/run.sh: --filter needs an expression" >&2; exit 2; }
                  user_filter="$2"; filter=(--filter "$2"); shift 2 ;;
        --fast) fast=1; shift ;;
        --accel) [ $# -ge 2 ] || { echo "tests/run.sh: --accel needs auto, kvm or tcg" >&2; exit 2; }
                 case "$2" in auto|kvm|tcg) accel="$2" ;; *) echo "tests/run.sh: --accel must be auto, kvm or tcg, got '$2'" >&2; exit 2 ;; esac
                 shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "tests/run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if [ "$fast" -eq 1 ]; then
    fast_filter="Category=Unit|Category=Cluster"
    if [ -n "$user_filter" ]; then
        filter=(--filter "($fast_filter)&($user_filter)")
    else
        filter=(--filter "$fast_filter")
    fi
fi

out="$root/artifacts/test"
rm -rf "$out"
mkdir -p "$out/results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

pg_dir=""
cleanup() {
    if [ -n "$pg_dir" ]; then
        "$root/tests/pg/stop-private-pg.sh" "$pg_dir" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if [ "$fast" -eq 1 ]; then
    echo "== fast lane: Unit and Cluster tests only (no PostgreSQL, no QEMU)"
else
    echo "== private PostgreSQL"
    pg_env=$("$root/tests/pg/start-private-pg.sh" "$out/pg") || { echo "tests/run.sh: the private PostgreSQL did not start (see above)"; echo "0 passed, 1 failed"; exit 1; }
    eval "$pg_env"
    pg_dir="$OMIG_PG_DATADIR"
    export OMIG_PG_CONNSTR

    echo "== QEMU (installed when missing) and the dirtying guest"
    qemu_env=$("$root/tests/qemu/setup-qemu.sh" "$out/guest") || { echo "tests/run.sh: QEMU setup failed (see above)"; echo "0 passed, 1 failed"; exit 1; }
    eval "$qemu_env"
    export OMIG_QEMU_BINARY OMIG_GUEST_IMAGE

    echo "== the real Linux lab parts (nftables, conntrack, qemu-storage-daemon, the Linux guest)"
    lab_env=$("$root/tests/lab/setup-lab.sh" "$out/lab") || { echo "tests/run.sh: lab setup failed (see above)"; echo "0 passed, 1 failed"; exit 1; }
    eval "$lab_env"
    export OMIG_LAB_DIR OMIG_LINUX_GUEST_DIR

    echo "== Chromium (installed when missing) for the console's browser tests"
    "$root/tests/console/setup-chromium.sh" || { echo "tests/run.sh: Chromium setup failed (see above)"; echo "0 passed, 1 failed"; exit 1; }
    # The QEMU tests write which accelerator `auto` chose here (and why) to $OMIG_TEST_OUT/accelerator.txt.
    export OMIG_TEST_OUT="$out"
    if [ "$accel" != auto ]; then
        # The in-process QEMU tests read OMIG_TEST_ACCEL; host silos started by the tests read Omig__Qemu__Accelerator.
        export OMIG_TEST_ACCEL="$accel" Omig__Qemu__Accelerator="$accel"
        echo "QEMU accelerator forced: $accel"
    fi
fi

echo "== build (Release, warnings are errors)"
if ! dotnet build "$root/OrleansMigrate.sln" -c Release -warnaserror -nologo -clp:ErrorsOnly; then
    echo "tests/run.sh: the build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

# One project's tests, its full output in its log and its status in a file beside it.
run_project() {
    local project=$1 name
    name=$(basename "$project" .csproj)
    local status=0
    dotnet test "$project" -c Release --no-build --nologo \
        --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
        --results-directory "$out/results" "${filter[@]}" > "$out/$name.log" 2>&1 || status=$?
    echo "$status" > "$out/$name.status"
}

# The console gets each failure and the project's counts; the full per-test output stays in the log.
# Each failure with its message (not the stack), so a CI log says why, not only what.
# A result line is "  Failed Namespace.Class.Method…"; a log line like "Failed to address message" is not one.
# Then the stack's first frames of our own code, so a CI log also says where.
report_project() {
    local project=$1 name
    name=$(basename "$project" .csproj)
    echo "== $name"
    if [ "$(cat "$out/$name.status" 2>/dev/null || echo 1)" != 0 ]; then
        failed_runs=$((failed_runs + 1))
    fi
    awk '/^[[:space:]]+Failed [A-Za-z_][A-Za-z0-9_]*\./ { print "   " substr($0, match($0, /Failed /)); show = 1; lines = 0; stack = 0; next }
         show && /Stack Trace:/ { show = 0; stack = 1; frames = 0; next }
         stack && /^[[:space:]]*(Standard Output|Failed|Passed|Skipped)/ { stack = 0 }
         stack && /at OrleansMigrate\./ && frames < 4 { sub(/^[[:space:]]*/, "         "); print; frames++ }
         show && lines < 12 { sub(/^[[:space:]]*/, "      "); print; lines++ }' "$out/$name.log" || true
    local trx="$out/results/$name.trx"
    if [ -f "$trx" ]; then
        grep -o '<Counters [^>]*>' "$trx" | sed -E 's/.* total="([0-9]+)".* passed="([0-9]+)" failed="([0-9]+)".*/   \1 tests: \2 passed, \3 failed/'
    else
        tail -n 20 "$out/$name.log"
    fi
}

failed_runs=0
projects=("$root"/tests/*/*.Tests.csproj)
if [ "$fast" -eq 1 ]; then
    # The fast lane's projects wait on timers and in-process silos more than they compute: up to three run at once
    # (each keeps its own log), and they are reported in order once all have ended. The full run stays one project at
    # a time: its QEMU and lab tests measure real guests and must not share the two cores with other projects.
    # Longest first, so the last to start are short ones: Grains, Api and Hypervisor take most of the time.
    echo "== tests (up to 3 projects at once)"
    order=()
    for first in Grains Api Hypervisor; do
        for project in "${projects[@]}"; do
            [ "$(basename "$project" .csproj)" = "OrleansMigrate.$first.Tests" ] && order+=("$project")
        done
    done
    for project in "${projects[@]}"; do
        case " ${order[*]} " in *" $project "*) ;; *) order+=("$project") ;; esac
    done
    for project in "${order[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge 3 ]; do
            wait -n || true
        done
        run_project "$project" &
    done
    wait || true
    for project in "${projects[@]}"; do
        report_project "$project"
    done
else
    for project in "${projects[@]}"; do
        run_project "$project"
        report_project "$project"
    done
fi

passed=0 failed=0 skipped=0 projects_without_results=0
for project in "$root"/tests/*/*.Tests.csproj; do
    trx="$out/results/$(basename "$project" .csproj).trx"
    if [ ! -f "$trx" ]; then
        projects_without_results=$((projects_without_results + 1))
        echo "no results for $(basename "$project") (see $out/$(basename "$project" .csproj).log)" >&2
        continue
    fi
    counters=$(grep -o '<Counters [^>]*>' "$trx")
    get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
    p=$(get passed); f=$(get failed); t=$(get total); e=$(get executed)
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + t - e))
done

if [ "$failed" -gt 0 ] && [ -n "$pg_dir" ] && [ -f "$pg_dir/server.log" ]; then
    # What the database said, for a failure that reached it (the log stays with the data directory otherwise).
    echo "PostgreSQL's last errors (of $(grep -cE 'ERROR|FATAL|PANIC' "$pg_dir/server.log") in its log):"
    grep -E 'ERROR|FATAL|PANIC' "$pg_dir/server.log" | tail -n 12 | cut -c1-300 | sed 's/^/   /'
fi
if [ -f "$out/accelerator.txt" ]; then
    echo "QEMU guests ran under: $(cat "$out/accelerator.txt")"
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$failed_runs" -eq 0 ] && [ "$projects_without_results" -eq 0 ]
