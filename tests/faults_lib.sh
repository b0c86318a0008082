# Shared by the verified runs over faulty stores (sourced after
# script_lib.sh): a stack around a faulty tier, and a verified run that
# checks the faults it was meant to meet happened.
trap 'rm -f /dev/shm/tierpage-faults-$$-*; rm -rf "$WORK"' EXIT

# stack FILE FAULTY_TIER_LINES [EXTRA TOP-LEVEL LINES]: dram (4 MiB) ->
# faulty around pmem, 2 MiB resident.
stack() {
    cat >"$1" <<YAML
name: faults-$$
resident: 2MiB
${3:-}
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: faulty
    wrap: pmem
    wrap.path: /dev/shm/tierpage-faults-$$-$(basename "$1" .yaml).pmem
    capacity: 256MiB
    counts_file: $WORK/$(basename "$1" .yaml).counts
$2
YAML
}
count() { awk -v k="$1" '$1 == k {n += $2} END {print n + 0}' "$WORK/$2.counts"; }

# verified NAME WHAT COUNTER: a verified run that must succeed, and the
# faults it was meant to meet must have happened.
verified() {
    local name=$1 what=$2 counter=$3
    rm -f "$WORK/$name.counts"
    expect_status 0 "$what: every page verified" -- \
        "$TIERPAGE" run -c "$WORK/$name.yaml" -- "$BENCH" --size 16MiB --accesses 24000 --verify --quiet
    local n
    n=$(count "$counter" "$name")
    [ "$n" -gt 0 ] && pass "  $n $counter injected" || fail "  no $counter was injected"
}
