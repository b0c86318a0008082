# The faulty store: it passes the conformance kit around dram and pmem, its
# options and the wrapped store's are checked with their line in the stack
# file, and the faults it is asked for are the faults it injects.
. "$(dirname "$0")/script_lib.sh"
trap 'rm -f /dev/shm/tierpage-faulty-$$-*; rm -rf "$WORK"' EXIT

expect_status 0 "conformance kit through faulty around dram" -- \
    "$TIERPAGE" plugin-test faulty --option wrap=dram --option capacity=4MiB
expect_output "faulty: [0-9]+ passed, 0 failed" "  every check passed"
expect_status 0 "conformance kit through faulty around pmem, with stalls" -- \
    "$TIERPAGE" plugin-test faulty --option wrap=pmem --option wrap.path=/dev/shm/tierpage-faulty-$$-kit.pmem \
    --option capacity=4MiB --option put_stall=0.01 --option get_stall=0.01 --option stall_time=1ms
expect_status 1 "the kit sees the injected errors" -- \
    "$TIERPAGE" plugin-test faulty --option wrap=dram --option capacity=4MiB --option get_eio=1/2
expect_output "injected I/O error on get" "  an injected error says so"

stack() {
    cat >"$WORK/f.yaml" <<YAML
name: faulty-$$
resident: 1MiB
tiers:
  - plugin: faulty
    wrap: pmem
    wrap.path: /dev/shm/tierpage-faulty-$$-s.pmem
    capacity: 8MiB
    $1
YAML
}
stack "get_eio: 1/1000"
expect_status 0 "tierpage check accepts a faulty tier" -- "$TIERPAGE" check "$WORK/f.yaml"
stack "wrap.bogus: 1"
expect_status 2 "an option the wrapped store refuses" -- "$TIERPAGE" check "$WORK/f.yaml"
expect_output "f.yaml:8:5: tiers\[0\].wrap.bogus \(plugin faulty\): faulty: wrapped pmem: pmem: unknown option 'bogus'" \
    "  is reported at its own line, with its prefix"
stack "put_full: 2"
expect_status 2 "a share above 1" -- "$TIERPAGE" check "$WORK/f.yaml"
expect_output "f.yaml:8:5: tiers\[0\].put_full .*expected a share of calls such as 0.001, 1/1000 or 0.1%, got '2'" \
    "  is reported at its line"
stack "stall_time: 5sec"
expect_status 2 "a duration with a unit no key takes" -- "$TIERPAGE" check "$WORK/f.yaml"
expect_output "f.yaml:8:5: tiers\[0\].stall_time .*expected a duration" "  is reported at its line"
stack "stall_time: 5"
expect_status 0 "a bare number of milliseconds, as every duration reads it" -- "$TIERPAGE" check "$WORK/f.yaml"
sed -i 's/^    wrap: pmem$/    wrap: faulty/' "$WORK/f.yaml"
stack "seed: 3"
sed -i 's/^    wrap: pmem$/    wrap: faulty/' "$WORK/f.yaml"
expect_status 2 "faulty cannot wrap itself" -- "$TIERPAGE" check "$WORK/f.yaml"
expect_output "f.yaml:5:5: tiers\[0\].wrap .*expected another plugin than faulty" "  is reported at wrap:"
stack "seed: 3"
sed -i 's/^    wrap: pmem$/    wrap: no-such-store/' "$WORK/f.yaml"
expect_status 2 "a wrapped plugin that does not exist" -- "$TIERPAGE" check "$WORK/f.yaml"
expect_output "tierpage-no-such-store.so not found" "  is named"

finish
