# tierpage check, help and plugin-test from the command line.
. "$(dirname "$0")/script_lib.sh"
for f in "$SRC"/conf/examples/*.yaml; do
    case $(basename "$f") in local.yaml|small.yaml) ;; *) continue ;; esac
    expect_status 0 "check $(basename "$f")" -- "$TIERPAGE" check "$f"
    expect_output "tiers:" "check prints a summary of $(basename "$f")"
done
expect_output "namespace +per-instance" "the summary says the namespace is per-instance by default"
# check_stack FILE WANT WHAT PATTERN DESCRIPTION: tierpage check on a stack
# given as printf's format in $STACK, its status and a line of its output.
check_stack() {
    printf "$STACK" >"$WORK/$1"
    expect_status "$2" "$3" -- "$TIERPAGE" check "$WORK/$1"
    expect_output "$4" "$5"
}
STACK='name: x\nresident: 1MiB\nresidnt: 2MiB\ntiers:\n  - plugin: dram\n    capacity: 1MiB\n'
check_stack typo.yaml 2 "check refuses an unknown key" "typo.yaml:3:1: residnt" "the unknown key's place is named"
STACK='name: x\nresident: 1MiB\ntiers:\n  - plugin: dram\n    capacity: 1MiB\n    speed: fast\n'
check_stack opt.yaml 2 "check refuses an option the plugin rejects" "opt.yaml:6:5: tiers\[0\].speed" \
    "the rejected option's place is named"
STACK='name: x\nnamespace: exclusive\nresident: 1MiB\ntiers:\n  - plugin: dram\n    capacity: 1MiB\n'
check_stack excl.yaml 0 "check a stack with namespace: exclusive" "namespace +exclusive" \
    "the summary says the namespace is exclusive"
STACK='name: x\nnamespace: shared\nresident: 1MiB\ntiers:\n  - plugin: dram\n    capacity: 1MiB\n'
check_stack ns.yaml 2 "check refuses an unknown namespace mode" \
    "ns.yaml:2:12: namespace: expected per-instance or exclusive, got 'shared'" "the bad value's place is named"
expect_status 2 "check without a file" -- "$TIERPAGE" check
expect_status 2 "an unknown command" -- "$TIERPAGE" frobnicate
expect_status 0 "tierpage --help" -- "$TIERPAGE" --help
expect_output "plugin-test" "--help lists the commands"
expect_status 0 "plugin-test dram" -- "$TIERPAGE" plugin-test dram --option capacity=16MiB
expect_output "passed, 0 failed" "plugin-test prints its summary"
expect_status 0 "plugin-test dram with its pool in a file" -- "$TIERPAGE" plugin-test dram --option capacity=16MiB \
    --option path="$WORK/pool.dram"
expect_output "ok +persistence: [0-9]+ pages read back after close and reopen" \
    "plugin-test checks that a dram pool file keeps its pages across close and open"
expect_status 0 "plugin-test pmem" -- "$TIERPAGE" plugin-test pmem --option capacity=16MiB --option path="$WORK/p.pmem"
expect_status 1 "plugin-test of a missing plugin fails" -- "$TIERPAGE" plugin-test nosuchstore
finish
