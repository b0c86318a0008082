# Shared by the shell tests: assertions that count, and a closing line.
set -u
SRC=${TIERPAGE_SOURCE_DIR:?set TIERPAGE_SOURCE_DIR}
BUILD=${TIERPAGE_BUILD_DIR:?set TIERPAGE_BUILD_DIR}
# The programs a test pages and the shim come from CLIENT_BUILD: $BUILD's,
# unless TIERPAGE_CLIENT_BUILD_DIR names a plain build for a sanitized one
# (whose daemon then serves them: a sanitizer's runtime cannot share malloc
# with the preloaded shim).
CLIENT_BUILD=${TIERPAGE_CLIENT_BUILD_DIR:-$BUILD}
TIERPAGE=$CLIENT_BUILD/bin/tierpage
BENCH=$CLIENT_BUILD/bin/tierpage-bench
WORK=$(mktemp -d /tmp/tierpage-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok    $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }

# expect_status WANT DESCRIPTION -- CMD...: run CMD, keep its output in $WORK/out
expect_status() {
    local want=$1 what=$2
    shift 3
    "$@" >"$WORK/out" 2>&1
    local got=$?
    if [ "$got" = "$want" ]; then pass "$what"; else
        fail "$what: exit $got, expected $want"; sed 's/^/      /' "$WORK/out" | tail -20; fi
}

# expect_output PATTERN DESCRIPTION [FILE]: the last command's output (or FILE) matches
expect_output() {
    local file=${3:-$WORK/out}
    if grep -Eq -- "$1" "$file"; then pass "$2"; else
        fail "$2: no '$1' in $file"; sed 's/^/      /' "$file" | tail -20; fi
}

# expect_exit WHAT WANT PID [LOG]: waits for PID, a run in the background,
# and passes when it exited WANT; else fails, with LOG's last lines.
expect_exit() {
    local what=$1 want=$2 got
    wait "$3"
    got=$?
    if [ "$got" = "$want" ]; then pass "$what (exit $want)"; else
        fail "$what: exit $got, expected $want"
        [ -z "${4:-}" ] || sed 's/^/      /' "$4" | tail -20
    fi
}

# expect_no_wrong_data WHAT LOG: the output LOG of a verified run shows no
# page read back wrong.
expect_no_wrong_data() {
    if grep -Eq "verify: .*FAILED|mismatch" "$2"; then fail "$1 saw wrong data"; else
        pass "$1 saw no wrong data"; fi
}

# wait_while_running PID SECONDS CMD...: runs CMD every 0.1 s until it
# succeeds, PID (a run under test) has ended, or SECONDS have passed; then
# succeeds when CMD does. PID may be "" when no process bounds the wait.
wait_while_running() {
    local pid=$1 tries=$(($2 * 10))
    shift 2
    for _ in $(seq "$tries"); do
        "$@" && return 0
        [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    "$@"
}

# more_than N CMD...: CMD prints a number greater than N (a failing or
# silent CMD counts as 0).
more_than() {
    local n
    n=$("${@:2}" 2>/dev/null) || n=0
    [ "${n:-0}" -gt "$1" ] 2>/dev/null
}

# json_field FILE KEY: a top-level integer of a stats file
json_field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# tier_field FILE TIER KEY: one number of a tier in a stats file; -1 when
# the file, the tier or the key is missing.
tier_field() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print([t for t in d["tiers"] if t["name"] == sys.argv[2]][0][sys.argv[3]])' "$1" "$2" "$3" 2>/dev/null || echo -1
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

# A small stack: dram, then pmem on /dev/shm, both private to this test.
small_stack() {
    local file=$1 resident=$2 dram=$3 pmem=$4
    cat >"$file" <<YAML
name: test-$$
resident: $resident
tiers:
  - plugin: dram
    capacity: $dram
  - plugin: pmem
    path: /dev/shm/tierpage-test-$$-$(basename "$file" .yaml).pmem
    capacity: $pmem
YAML
}
cleanup_shm() { rm -f /dev/shm/tierpage-test-$$-*.pmem; }

# The compatibility tests (tests/compat_*.sh): programs nobody here wrote,
# each run under tierpage and without it.

# expect_same WHAT EXPECTED GOT: two outputs are the same, byte for byte
expect_same() {
    if cmp -s "$2" "$3"; then pass "$1"; else
        fail "$1: the outputs differ (< without tierpage, > under it)"
        diff "$2" "$3" | head -20 | sed 's/^/      /'
    fi
}

# expect_paged WHAT FILE: the run was paged: faults served and pages put
# into the pmem tier. FILE is a --stats JSON, or the summaries a run
# printed on stderr (those of the program's children: gcc's cc1), where
# one process must show both.
expect_paged() {
    local got
    got=$(python3 - "$2" <<'PY' 2>&1
import json, re, sys
text = open(sys.argv[1], errors="replace").read()
try:
    d = json.loads(text)
    runs = [(d["faults"], sum(t["puts"] for t in d["tiers"] if t["name"] == "pmem"))]
except ValueError:
    runs = []
    for line in text.splitlines():
        m = re.match(r"tierpage: (\d+) faults ", line)
        if m:
            runs.append([int(m.group(1)), 0])
        m = re.match(r"tierpage: pmem +pmem +\d+ +\d+ +(\d+) ", line)
        if m and runs:
            runs[-1][1] = int(m.group(1))
best = max(runs, key=lambda r: (r[0] > 0 and r[1] > 0, r[1]), default=(0, 0))
print("%d faults served, %d pages put into pmem" % tuple(best))
sys.exit(0 if best[0] > 0 and best[1] > 0 else 1)
PY
)
    if [ $? = 0 ]; then pass "$1: paged ($got)"; else fail "$1: not paged ($got)"; fi
}

# memtester_results LOG: the tests memtester ran and what each said (ok or
# not), without its progress spinner; a line FAILURE per failure it printed.
memtester_results() {
    tr -d '\b' <"$1" | awk -F' *: *' '/^  [A-Z][A-Za-z0-9 -]* *: / {
        sub(/^ +/, "", $1); print $1 ": " ($0 ~ /ok *$/ ? "ok" : "not ok") } /FAILURE/ { print "FAILURE" }'
}

# QEMU guests (tests/guest/): a kernel and a busybox initramfs, booted with
# -accel tcg (the host's KVM cannot boot a kernel) and no NIC.
need_pkg() { fail "$1 is missing: install $2 (scripts/install-deps.sh --test installs it)"; }

# guest_prerequisites: QEMU, the guest kernel (GUEST_KERNEL), busybox, cpio.
guest_prerequisites() {
    local missing=0
    command -v qemu-system-x86_64 >/dev/null || { need_pkg qemu-system-x86_64 qemu-system-x86; missing=1; }
    GUEST_KERNEL=$(ls /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -1)
    [ -n "$GUEST_KERNEL" ] || { need_pkg "the guest kernel /boot/vmlinuz-6.1.*" linux-image-amd64; missing=1; }
    [ -x /bin/busybox ] || { need_pkg busybox busybox-static; missing=1; }
    command -v cpio >/dev/null || { need_pkg cpio cpio; missing=1; }
    [ "$missing" = 0 ]
}

# guest_initramfs ARGS...: tests/guest/build_initramfs.sh ARGS into $WORK/guest.img.
guest_initramfs() {
    if bash "$SRC/tests/guest/build_initramfs.sh" --out "$WORK/guest.img" "$@" >"$WORK/build.log" 2>&1; then
        pass "initramfs: $(tail -1 "$WORK/build.log" | sed 's/^build_initramfs: //')"
    else
        fail "cannot build the initramfs"; sed 's/^/      /' "$WORK/build.log"; return 1
    fi
}

# guest_boot LOG MEMORY_MIB KERNEL_ARGS [PREFIX...]: boots $WORK/guest.img,
# under PREFIX when given (tierpage run ... --), within GUEST_TIMEOUT
# seconds; the serial console goes to the output and to LOG, line by line
# as it comes (tests watch LOG for what the guest has reached).
guest_boot() {
    local log=$1 memory=$2 args=$3 start status
    shift 3
    echo "booting $GUEST_KERNEL under QEMU (TCG)${1:+ under $*}; the guest's serial console follows"
    start=$(date +%s)
    timeout "${GUEST_TIMEOUT:-600}" "$@" qemu-system-x86_64 -accel tcg -m "$memory" -smp 1 -nographic -no-reboot -nic none \
        -kernel "$GUEST_KERNEL" -initrd "$WORK/guest.img" -append "console=ttyS0 quiet panic=-1 $args" </dev/null 2>&1 |
        sed -u 's/\r//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$log"
    status=${PIPESTATUS[0]}
    echo "guest ran $(($(date +%s) - start)) s"
    [ "$status" = 124 ] && fail "the guest did not power off within ${GUEST_TIMEOUT:-600}s"
    return 0
}

# guest_judge WHAT LOG: the checks' closing lines in the guest's log decide.
guest_judge() {
    local summary
    summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -1)
    if ! grep -aq 'TIERPAGE-GUEST-DONE' "$2"; then
        fail "$1 did not finish (no sentinel): see the output above"
    elif [ -z "$summary" ]; then
        fail "$1 printed no summary"
    elif echo "$summary" | grep -q ' 0 failed'; then
        pass "$1: $summary"
    else
        fail "$1: $summary"
    fi
}
