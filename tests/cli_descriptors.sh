#!/bin/bash
# A program that closes descriptors it never opened (every number from 3
# up, closefrom, close_range, dup2 onto stdin and every number from 3 to 63, and a
# forked child calling closefrom) keeps
# its memory whole: the pager's own descriptors (its userfaultfd, memfds,
# pmem file, server sockets, the daemon's connection) are not closed under
# it, and a file the program opens afterwards gets none of the pager's
# writes (tests/programs/close_all.c checks every word and the file).
. "$(dirname "$0")/script_lib.sh"
. "$SRC/tests/fixtures/memcached_servers.sh"
. "$(dirname "$0")/daemon_lib.sh"
trap 'mc_stop_all; daemon_cleanup' EXIT
CLOSE_ALL=$CLIENT_BUILD/tests/close_all

mc_start fds 256 || { fail "memcached did not start"; finish; exit 1; }
# 16 MiB through a 4 MiB cap and 4 MiB of dram: half of it in the slow tier
# when the program closes, and every page of it read back, written and read
# again after.
stack() {
    printf 'name: fds-%s-%s\nresident: 4MiB\ntiers:\n  - plugin: dram\n    capacity: 4MiB\n' "$1" "$$"
    case $1 in
    pmem) printf '  - plugin: pmem\n    path: /dev/shm/tierpage-test-%s-fds.pmem\n    capacity: 256MiB\n' "$$" ;;
    # A loaded machine is no server gone.
    memcached) printf '  - plugin: memcached\n    servers: [127.0.0.1:%s]\n    io_timeout_ms: 10s\n' "$MC_PORT" ;;
    esac
}
for tier in pmem memcached; do
    stack $tier >"$WORK/$tier.yaml"
    for mode in close closefrom close_range dup2 fork; do
        expect_status 0 "$tier: $mode, and the memory and a file opened afterwards are as written" -- \
            timeout 300 "$TIERPAGE" run -c "$WORK/$tier.yaml" --quiet -- "$CLOSE_ALL" $mode 16 "$WORK/file"
        expect_output "close_all: $mode: every word and the file as written" "$tier: $mode: close_all says so"
    done
done

# Under the daemon: the client's connection and userfaultfd.
stack memcached >"$STACKS/fds.yaml"
start_daemon || exit 1
for mode in close closefrom close_range dup2; do
    expect_status 0 "daemon: $mode, and the memory and a file opened afterwards are as written" -- \
        timeout 300 "$TIERPAGE" run --daemon "$SOCK" --vm fds --quiet -- "$CLOSE_ALL" $mode 16 "$WORK/file"
    expect_output "close_all: $mode: every word and the file as written" "daemon: $mode: close_all says so"
done
expect_status 0 "SIGTERM stops the daemon" -- stop_daemon
finish
