# The redis tier at open and through the conformance kit: plain servers,
# replicas, a unix socket, AUTH, the eviction-policy check, a server down at
# start, bad options, and clear at open.
. "$(dirname "$0")/script_lib.sh"
. "$(dirname "$0")/fixtures/redis_servers.sh"
trap 'redis_stop_all; rm -rf "$WORK"' EXIT

need "start three redis servers" -- eval 'redis_start a && redis_start b && redis_start c'
need "start a redis server on a unix socket" -- redis_start_unix u
need "start a redis server with a password" -- redis_start auth --requirepass s3cret
need "start a redis server with maxmemory-policy allkeys-lru" -- \
    redis_start lru --maxmemory 64mb --maxmemory-policy allkeys-lru

A=${REDIS_ADDR[a]} B=${REDIS_ADDR[b]} C=${REDIS_ADDR[c]}

# plugin-test: every check passes (persistence is skipped: not persistent)
plugin_test() {
    local what=$1
    shift
    expect_status 0 "plugin-test: $what" -- "$TIERPAGE" plugin-test redis "$@"
    expect_output "redis: [0-9]+ passed, 0 failed" "plugin-test: $what: no check failed"
}
plugin_test "two servers" --option "servers=$A,$B"
plugin_test "replicas=2 on three servers" --option "servers=$A,$B,$C" --option replicas=2
plugin_test "a unix socket" --option "servers=${REDIS_SOCK[u]}"
plugin_test "AUTH with the password" --option "servers=${REDIS_ADDR[auth]}" --option password=s3cret

# AUTH
expect_status 1 "plugin-test: a server wanting a password, none given" -- \
    "$TIERPAGE" plugin-test redis --option "servers=${REDIS_ADDR[auth]}"
expect_output "${REDIS_ADDR[auth]}: NOAUTH.*set password" "no password: a clear error naming the server"
expect_status 1 "plugin-test: a wrong password" -- \
    "$TIERPAGE" plugin-test redis --option "servers=${REDIS_ADDR[auth]}" --option password=wrong
expect_output "${REDIS_ADDR[auth]}: AUTH refused" "a wrong password: AUTH refused, naming the server"

# A stack: dram, then redis with the given servers and extra tier lines.
redis_stack() {
    local file=$1 name=$2 servers=$3
    shift 3
    {
        printf 'name: %s\nresident: 2MiB\ntiers:\n  - plugin: dram\n    capacity: 4MiB\n' "$name"
        printf '  - plugin: redis\n    servers: [%s]\n' "$servers"
        for line in "$@"; do printf '    %s\n' "$line"; done
    } >"$file"
}

# The eviction policy: refused by default, accepted with a warning on request.
redis_stack "$WORK/lru.yaml" lru-$$ "$A, ${REDIS_ADDR[lru]}"
expect_status 2 "a server with maxmemory-policy allkeys-lru is refused" -- "$TIERPAGE" check "$WORK/lru.yaml"
expect_output "lru.yaml:7:5: tiers\[1\]\.servers.*${REDIS_ADDR[lru]} has maxmemory-policy allkeys-lru" \
    "the refusal names the stack file's line:col, the server and its policy"
expect_output "eviction_policy_check: warn" "the refusal says how to go on anyway"
redis_stack "$WORK/lru-warn.yaml" lru-$$ "$A, ${REDIS_ADDR[lru]}" "eviction_policy_check: warn"
expect_status 0 "with eviction_policy_check: warn the stack opens" -- "$TIERPAGE" check "$WORK/lru-warn.yaml"
expect_output "tierpage: redis: warning: ${REDIS_ADDR[lru]} has maxmemory-policy allkeys-lru" \
    "and a warning is logged, naming the tier"

# CONFIG renamed away: the policy cannot be read; refused, or a warning.
need "start a redis server without CONFIG" -- redis_start noconfig --rename-command CONFIG ""
expect_status 1 "plugin-test: a server whose CONFIG is disabled is refused" -- \
    "$TIERPAGE" plugin-test redis --option "servers=${REDIS_ADDR[noconfig]}"
expect_output "${REDIS_ADDR[noconfig]}: cannot read maxmemory-policy" "the refusal says the policy cannot be read"
expect_status 0 "plugin-test: ... and accepted with eviction_policy_check=warn" -- \
    "$TIERPAGE" plugin-test redis --option "servers=${REDIS_ADDR[noconfig]}" --option eviction_policy_check=warn

# A server down at start: a clear error naming it and the stack file's line:col
# (the same under `tierpage run`: tests/redis_run.sh).
down=$(redis_next_port)
redis_stack "$WORK/down.yaml" down-$$ "$A, 127.0.0.1:$down"
expect_status 2 "a server down at start: tierpage check refuses the stack" -- "$TIERPAGE" check "$WORK/down.yaml"
expect_output "down.yaml:7:5: tiers\[1\]\.servers \(plugin redis\): redis: 127.0.0.1:$down: cannot connect" \
    "the error names the file:line:col and the server"

# Bad options: the key and its line are named.
redis_stack "$WORK/bad.yaml" bad-$$ "$A, $B" "replicas: 3" "servers_typo: 1"
expect_status 2 "an unknown option is refused" -- "$TIERPAGE" check "$WORK/bad.yaml"
expect_output "bad.yaml:9:5: tiers\[1\]\.servers_typo.*unknown option" "the unknown option's line:col is named"
redis_stack "$WORK/bad2.yaml" bad-$$ "$A, $B" "replicas: 3"
expect_status 2 "more replicas than servers is refused" -- "$TIERPAGE" check "$WORK/bad2.yaml"
expect_output "bad2.yaml:8:5: tiers\[1\]\.replicas.*only 2 servers" "the replicas line is named"
redis_stack "$WORK/bad3.yaml" bad-$$ "$A, no where" "io_timeout_ms: soon"
expect_status 2 "a bad server address is refused" -- "$TIERPAGE" check "$WORK/bad3.yaml"
expect_output "bad3.yaml:7:5: tiers\[1\]\.servers.*expected host:port or a unix socket path, got 'no where'" \
    "the bad address is named"
redis_stack "$WORK/bad4.yaml" bad-$$ "$A, \"\", $B"
expect_status 2 "an empty entry in servers is refused" -- "$TIERPAGE" check "$WORK/bad4.yaml"
expect_output "bad4.yaml:7:5: tiers\[1\]\.servers.*servers: entry 2 of the list is empty" "the empty entry is named"
redis_stack "$WORK/bad5.yaml" bad-$$ "$A, $B" "io_timeout_ms: soon"
expect_status 2 "a bad duration is refused" -- "$TIERPAGE" check "$WORK/bad5.yaml"
expect_output "bad5.yaml:8:5: tiers\[1\]\.io_timeout_ms.*io_timeout_ms: expected a duration from 1ms to 10min" \
    "the bad duration is named at its line"
expect_status 1 "plugin-test: replicas with cluster is refused" -- \
    "$TIERPAGE" plugin-test redis --option "servers=$A" --option cluster=true --option replicas=2
expect_output "replicas must be 1 with cluster: true" "the refusal says why"
expect_status 1 "plugin-test: cluster: true on a plain server is refused" -- \
    "$TIERPAGE" plugin-test redis --option "servers=$A" --option cluster=true
expect_output "$A is not a cluster node" "the refusal names the server"

# clear at open takes the pages of this namespace's instances whose lease is
# gone, and nothing else: not a running instance's, not another namespace's.
dead=0123456789abcdef live=fedcba9876543210
redis_cli a set "tp:clr-$$:$dead:0000000000000001" stale >/dev/null
redis_cli b set "tp:clr-$$:$dead:000000000000002a" stale >/dev/null
redis_cli a set "tp:clr-$$:$live:0000000000000001" running >/dev/null
redis_cli a set "tpl:clr-$$:$live" "$live" >/dev/null
redis_cli a set "tp:clr-$$-2:$dead:0000000000000001" other >/dev/null
redis_cli b set "tp:keep-$$:$dead:0000000000000001" other >/dev/null
redis_cli b set "tp:clr-$$:0000000000000001" exclusive >/dev/null
redis_cli a set "unrelated" other >/dev/null
redis_stack "$WORK/clr.yaml" clr-$$ "$A, $B"
expect_status 0 "opening a stack clears pages a dead instance left" -- "$TIERPAGE" check "$WORK/clr.yaml"
left=$(( $(redis_cli a exists "tp:clr-$$:$dead:0000000000000001") + $(redis_cli b exists "tp:clr-$$:$dead:000000000000002a") ))
kept=$(( $(redis_cli a exists "tp:clr-$$-2:$dead:0000000000000001") + $(redis_cli b exists "tp:keep-$$:$dead:0000000000000001") +
         $(redis_cli a exists unrelated) + $(redis_cli a exists "tp:clr-$$:$live:0000000000000001") +
         $(redis_cli b exists "tp:clr-$$:0000000000000001") ))
[ "$left" = 0 ] && pass "clear removed a dead instance's pages" || fail "clear left $left of 2 pages"
[ "$kept" = 5 ] && pass "clear kept a running instance's, an exclusive stack's and other namespaces' keys" ||
    fail "clear kept only $kept of 5 other keys"
leases=$(redis_cli a keys "tpl:clr-$$:*" | grep -c .)
[ "$leases" = 1 ] && pass "the stack's own lease went with its close" || fail "$leases leases left, expected 1"

finish
