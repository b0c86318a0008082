# fork with a tier on servers: fork_remote.sh memcached|redis. Parent and
# child each see the served memory as it was at the fork and then their
# own writes only, with pages on the server at the fork
# (tests/programs/fork_cow.c checks every word); the child's pages are
# under its own instance on the server and go when it ends, by _exit,
# SIGKILL or exec: the keys on the server are counted.
. "$(dirname "$0")/script_lib.sh"
KIND=${1:?memcached or redis}
FORK_COW=$BUILD/tests/fork_cow

case $KIND in
memcached)
    . "$SRC/tests/fixtures/memcached_servers.sh"
    trap 'mc_stop_all; rm -rf "$WORK"' EXIT
    mc_start s1 256 && P1=$MC_PORT && mc_start s2 256 && P2=$MC_PORT ||
        { fail "memcached servers did not start"; finish; exit 1; }
    SERVERS="127.0.0.1:$P1, 127.0.0.1:$P2"
    keys() { mc_keys "$P1" "$P2"; }
    ;;
redis)
    . "$SRC/tests/fixtures/redis_servers.sh"
    trap 'redis_stop_all; rm -rf "$WORK"' EXIT
    redis_start a && redis_start b || { fail "redis servers did not start"; finish; exit 1; }
    SERVERS="${REDIS_ADDR[a]}, ${REDIS_ADDR[b]}"
    keys() { redis_cli a --scan; redis_cli b --scan; }
    ;;
*)
    echo "usage: fork_remote.sh memcached|redis" >&2
    exit 2
    ;;
esac
pass "two $KIND servers on loopback"

# stack FILE NAME [EXTRA TOP-LEVEL LINE]: 4 MiB resident, 4 MiB of dram,
# then the servers: half of fork_cow's 16 MiB is on them at the fork.
stack() {
    cat >"$1" <<YAML
name: $2
resident: 4MiB
${3:-}
tiers:
  - plugin: dram
    capacity: 4MiB
  - plugin: $KIND
    servers: [$SERVERS]
YAML
}
# snap: the keys on the servers now, which instances, leases and pages_of
# read (one listing for the checks made at one moment).
snap() { keys >"$WORK/keys"; }
# instances NAME: "<instance> <page keys>" for each instance of namespace
# NAME with pages on the servers.
instances() {
    awk -F: -v ns="$1" '$1 == "tp" && $2 == ns && NF == 4 { n[$3]++ } END { for (i in n) print i, n[i] }' "$WORK/keys" |
        sort
}
# leases NAME: the instances of namespace NAME holding a lease.
leases() {
    awk -F: -v ns="$1" '$1 == "tpl" && $2 == ns && NF == 3 { print $3 }' "$WORK/keys" | sort -u
}
# pages_of NAME INSTANCE: that instance's page keys.
pages_of() {
    instances "$1" | awk -v i="$2" '$1 == i { print $2; found = 1 } END { if (!found) print 0 }'
}

# 1. fork_cow's checks, each under a namespace of its own. A run leaves
# its own pages and lease until the lease runs out (a program that exits
# under tierpage run does not close its stack), but nothing of its
# children: at most one instance has keys.
for t in basic nested threads exec many; do
    name=fork-$KIND-$$-$t
    stack "$WORK/$t.yaml" "$name"
    expect_status 0 "fork_cow $t over dram + $KIND" -- \
        timeout 600 "$TIERPAGE" run -c "$WORK/$t.yaml" --quiet -- "$FORK_COW" 16 $t
    expect_output "fork_cow $t: all checks passed" "fork_cow $t over $KIND reports every check passed"
    # exec's children exec `fork_cow serve`, programs of their own that
    # leave their pages as any program does: section 3 watches an exec.
    [ $t = exec ] && continue
    snap
    with_pages=$(instances "$name" | wc -l) with_lease=$(leases "$name" | wc -l)
    [ "$with_pages" -le 1 ] && [ "$with_lease" -le 1 ] &&
        pass "fork_cow $t: no child's pages or lease left on the servers" ||
        fail "fork_cow $t: $with_pages instances with pages and $with_lease leases left: $(instances "$name" | tr '\n' ' ')"
done

# 2. namespace: exclusive: the parent's pages are under the name alone,
# its children's under instances of their own, gone with them.
name=fork-$KIND-$$-excl
stack "$WORK/excl.yaml" "$name" "namespace: exclusive"
expect_status 0 "fork_cow nested with namespace: exclusive" -- \
    timeout 600 "$TIERPAGE" run -c "$WORK/excl.yaml" --quiet -- "$FORK_COW" 16 nested
expect_output "fork_cow nested: all checks passed" "fork_cow nested with namespace: exclusive passes"
snap
left=$(instances "$name" | wc -l)
[ "$left" = 0 ] && pass "exclusive: no child's pages left" || fail "exclusive: children's pages left: $(instances "$name")"

# 3. A child killed with SIGKILL, and a child that execs: its pages are
# on the servers under an instance of its own while it runs, and gone
# once it ended (by the time its parent's wait returns) or exec'd (while
# the new program still runs).
for how in kill exec; do
    name=fork-$KIND-$$-watched-$how
    dir=$WORK/$how
    mkdir -p "$dir"
    mkfifo "$dir/fork" "$dir/exec" "$dir/go"
    stack "$WORK/$how.yaml" "$name"
    "$TIERPAGE" run -c "$WORK/$how.yaml" --quiet -- "$FORK_COW" 16 watched "$dir" $how >"$WORK/$how.out" 2>&1 &
    run=$!
    wait_while_running $run 60 test -s "$dir/parent"
    snap
    before=$(instances "$name" | awk '{ print $1 }')
    echo fork >"$dir/fork"
    wait_while_running $run 120 test -s "$dir/child"
    child=$(cat "$dir/child" 2>/dev/null || echo 0)
    snap
    new=$(instances "$name" | awk '{ print $1 }' | grep -vxF "${before:-none}" || true)
    if [ "$(echo "$before" | grep -c .)" = 1 ] && [ "$(echo "$new" | grep -c .)" = 1 ] &&
        [ "$(pages_of "$name" "$new")" -gt 1000 ] && leases "$name" | grep -qxF "$new"; then
        pass "$how: the child's pages ($(pages_of "$name" "$new")) and lease are under its own instance $new"
    else
        fail "$how: parent's instance '$before', new instances '$new' ($(instances "$name" | tr '\n' ' '))"
    fi
    parent_pages=$(pages_of "$name" "$before")
    if [ $how = exec ]; then
        echo exec >"$dir/exec"
        gone() { snap && [ "$(pages_of "$name" "$new")" = 0 ] && ! leases "$name" | grep -qxF "$new"; }
        wait_while_running $run 60 gone &&
            [ "$(cat "/proc/$child/comm" 2>/dev/null)" = sleep ] &&
            pass "exec: the child's pages and lease went at its exec, while the program it exec'd runs" ||
            fail "exec: $(pages_of "$name" "$new") pages of the child left, its process: $(cat "/proc/$child/comm" 2>/dev/null)"
    fi
    kill -9 "$child" 2>/dev/null
    wait_while_running $run 60 test -s "$dir/reaped"
    snap
    [ "$(cat "$dir/reaped" 2>/dev/null)" = 0 ] && pass "$how: the parent's wait saw the child killed" ||
        fail "$how: the parent's checks so far: '$(cat "$dir/reaped" 2>/dev/null)'"
    left=$(pages_of "$name" "$new")
    [ "$left" = 0 ] && ! leases "$name" | grep -qxF "$new" &&
        pass "$how: once the parent's wait returned, none of the child's keys is left" ||
        fail "$how: $left pages of the child left, leases: $(leases "$name" | tr '\n' ' ')"
    [ "$(pages_of "$name" "$before")" = "$parent_pages" ] && pass "$how: the parent's $parent_pages pages stay" ||
        fail "$how: the parent had $parent_pages pages, has $(pages_of "$name" "$before")"
    echo go >"$dir/go"
    wait $run
    status=$?
    [ $status = 0 ] && pass "$how: the parent's memory is whole after its child" ||
        { fail "$how: the parent exited $status"; sed 's/^/      /' "$WORK/$how.out" | tail -5; }
done
finish
