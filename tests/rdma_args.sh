# tierpage-memserver's command line and the rdma tier's options, on any
# machine (no RDMA needed); the data path is tested by rdma_guest.sh.
. "$(dirname "$0")/script_lib.sh"
MEMSERVER=$BUILD/bin/tierpage-memserver

expect_status 0 "memserver --help" -- "$MEMSERVER" --help
expect_output "usage: tierpage-memserver .*--pool SIZE" "--help shows the usage"
expect_status 2 "memserver --slab that is not a multiple of 4KiB" -- "$MEMSERVER" --slab 3000
expect_output "--slab: expected a multiple of 4KiB" "the bad slab size is named"
expect_status 2 "memserver --slab larger than --pool" -- "$MEMSERVER" --pool 1MiB --slab 2MiB
expect_output "larger than the pool" "the slab larger than the pool is named"
expect_status 2 "memserver --port 0" -- "$MEMSERVER" --port 0
expect_status 2 "memserver --grace -1" -- "$MEMSERVER" --grace -1
expect_status 2 "memserver with an unknown argument" -- "$MEMSERVER" --pol 1GiB
expect_output "unknown argument, got '--pol'" "the unknown argument is named"
# --key-file: a key only its owner may read, of 16 to 4096 bytes; checked
# before anything else starts.
expect_status 2 "memserver --key-file that is not there" -- "$MEMSERVER" --key-file "$WORK/no.key"
expect_output "--key-file: key file $WORK/no.key: No such file or directory" "the missing file is named"
head -c 32 /dev/urandom | base64 >"$WORK/open.key"; chmod 644 "$WORK/open.key"
expect_status 2 "memserver --key-file that others may read" -- "$MEMSERVER" --key-file "$WORK/open.key"
expect_output "mode 0644 lets others than its owner read it \(chmod 600 it\)" "the mode is named"
printf 'short\n' >"$WORK/short.key"; chmod 600 "$WORK/short.key"
expect_status 2 "memserver --key-file with a 5-byte key" -- "$MEMSERVER" --key-file "$WORK/short.key"
expect_output "5 bytes, expected 16 to 4096" "the length is named"
expect_status 2 "memserver --key-file without a path" -- "$MEMSERVER" --key-file
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
    expect_status 1 "memserver on a machine without RDMA" -- "$MEMSERVER" --pool 8MiB --slab 1MiB --port 17471
    expect_output "no RDMA device" "it says there is no RDMA device"
fi

# Option errors point at their line in the stack file.
cat >"$WORK/replicas.yaml" <<YAML
name: args
resident: 4MiB
tiers:
  - plugin: rdma
    servers: [127.0.0.1:7471]
    replicas: 3
YAML
expect_status 2 "tierpage check: replicas 3" -- "$TIERPAGE" check "$WORK/replicas.yaml"
expect_output "replicas.yaml:6:[0-9]+: .*replicas: expected an integer from 1 to 2, got '3'" "replicas: 3 is refused at its line"
sed 's/replicas: 3/queue_depth: 1000/' "$WORK/replicas.yaml" >"$WORK/qd.yaml"
expect_status 2 "tierpage check: queue_depth 1000" -- "$TIERPAGE" check "$WORK/qd.yaml"
expect_output "qd.yaml:6:[0-9]+: .*queue_depth: expected an integer from 1 to 256" "queue_depth is refused at its line"
sed 's/replicas: 3/colour: blue/' "$WORK/replicas.yaml" >"$WORK/unknown.yaml"
expect_status 2 "tierpage check: an unknown rdma option" -- "$TIERPAGE" check "$WORK/unknown.yaml"
expect_output "unknown.yaml:6:[0-9]+: .*unknown option 'colour'" "the unknown option is refused at its line"
sed 's/replicas: 3/io_timeout_ms: 1.5s/' "$WORK/replicas.yaml" >"$WORK/timeout.yaml"
expect_status 2 "tierpage check: io_timeout_ms 1.5s" -- "$TIERPAGE" check "$WORK/timeout.yaml"
expect_output "timeout.yaml:6:[0-9]+: .*io_timeout_ms: expected a duration" "a fraction of a second is refused at its line"
sed -e 's/replicas: 3/replicas: 1/' -e 's/servers: \[127.0.0.1:7471\]/servers: "127.0.0.1:7471,,127.0.0.2"/' \
    "$WORK/replicas.yaml" >"$WORK/empty.yaml"
expect_status 2 "tierpage check: an empty entry in servers" -- "$TIERPAGE" check "$WORK/empty.yaml"
expect_output "empty.yaml:5:[0-9]+: .*servers: entry 2 of the list is empty" "the empty entry is refused, not dropped"
sed -e 's/replicas: 3/replicas: 1/' -e 's/servers: \[127.0.0.1:7471\]/servers: [unix:\/run\/x.sock]/' \
    "$WORK/replicas.yaml" >"$WORK/unix.yaml"
expect_status 2 "tierpage check: a unix socket for rdma" -- "$TIERPAGE" check "$WORK/unix.yaml"
expect_output "unix.yaml:5:[0-9]+: .*cannot use a unix socket" "a unix socket is refused: rdma needs an address"
sed 's|replicas: 3|key_file: '"$WORK/open.key"'|' "$WORK/replicas.yaml" >"$WORK/keyfile.yaml"
expect_status 2 "tierpage check: a key_file others may read" -- "$TIERPAGE" check "$WORK/keyfile.yaml"
expect_output "keyfile.yaml:6:[0-9]+: tiers\[0\]\.key_file \(plugin rdma\): rdma: key file $WORK/open.key: mode 0644" \
    "the key file is refused at its line, before any server is asked"
expect_status 1 "plugin-test: servers is required" -- "$TIERPAGE" plugin-test rdma
expect_output "servers is required" "the missing servers option is named"

# The example stack parses; its servers are not here, and the error says which.
expect_status 2 "tierpage check conf/examples/rdma.yaml (no servers here)" -- "$TIERPAGE" check "$SRC/conf/examples/rdma.yaml"
expect_output "rdma.yaml:[0-9]+:[0-9]+: .*rdma: server 10.0.0.2:7471" "the unreachable server is named"
finish
