#!/bin/bash
# A system install: the manual pages tierpage(1), tierpage-stack(5) and
# tierpaged(8) and the systemd unit land where Debian looks for them (under
# a DESTDIR, for a /usr install), the pages render without a warning, the
# unit names the installed daemon and its configuration and passes
# systemd-analyze verify, and the example configuration is one tierpaged
# reads.
. "$(dirname "$0")/script_lib.sh"

root=$WORK/root
DESTDIR=$root cmake --install "$BUILD" --prefix /usr >"$WORK/install.log" 2>&1 &&
    pass "cmake --install into a DESTDIR" || { fail "install"; cat "$WORK/install.log"; exit 1; }
for page in man1/tierpage.1 man5/tierpage-stack.5 man8/tierpaged.8; do
    file=$root/usr/share/man/$page
    if [ ! -f "$file" ]; then fail "$page is not installed"; continue; fi
    MANWIDTH=80 man --warnings -l "$file" >"$WORK/page" 2>"$WORK/warnings"
    if [ -s "$WORK/warnings" ]; then fail "$page renders with warnings"; sed 's/^/      /' "$WORK/warnings"
    elif ! grep -q "^NAME" "$WORK/page" || ! grep -q "^SEE ALSO" "$WORK/page"; then fail "$page: no NAME or SEE ALSO"
    else pass "$page is installed and renders without a warning ($(wc -l <"$WORK/page") lines)"; fi
done
unit=$root/usr/lib/systemd/system/tierpaged.service
[ -f "$unit" ] && pass "the unit is in /usr/lib/systemd/system" || { fail "no unit: $(find "$root" -name '*.service')"; }
grep -qx 'ExecStart=/usr/sbin/tierpaged -c /etc/tierpage/tierpaged.yaml' "$unit" &&
    pass "it starts /usr/sbin/tierpaged with /etc/tierpage/tierpaged.yaml" || fail "ExecStart: $(grep ExecStart "$unit")"
[ -x "$root/usr/sbin/tierpaged" ] && pass "tierpaged is in /usr/sbin" || fail "no /usr/sbin/tierpaged"
find "$root" -path "$root/usr" -prune -o -type f -print | grep -q . && fail "files outside /usr: $(find "$root" -path "$root/usr" -prune -o -type f -print)" ||
    pass "nothing is written outside the prefix"

# Into a prefix of its own: the unit names that prefix, and is sound.
prefix=$WORK/prefix
cmake --install "$BUILD" --prefix "$prefix" >"$WORK/install.log" 2>&1 || { fail "install into $prefix"; exit 1; }
unit=$prefix/lib/systemd/system/tierpaged.service
grep -qx "ExecStart=$prefix/sbin/tierpaged -c $prefix/etc/tierpage/tierpaged.yaml" "$unit" &&
    pass "under another prefix the unit names that prefix" || fail "ExecStart: $(grep ExecStart "$unit")"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$prefix/etc/tierpage" && cp "$prefix/share/doc/tierpage/examples/tierpaged.yaml" "$prefix/etc/tierpage/"
    SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$unit" >"$WORK/verify" 2>&1 &&
        ! grep -v "^$" "$WORK/verify" | grep -q . && pass "systemd-analyze verify finds nothing to say" ||
        { fail "systemd-analyze verify"; sed 's/^/      /' "$WORK/verify"; }
fi

# The unit's Documentation= pages are found where they were installed.
for page in 'tierpaged(8)' 'tierpage(1)' 'tierpage-stack(5)'; do
    MANPATH=$prefix/share/man man -w "$page" >/dev/null 2>&1 && pass "man finds $page" || fail "man cannot find $page"
done

# The example configuration parses: what stops the daemon is only its
# stacks directory, missing here.
sed "s|/etc/tierpage/vms.d|$WORK/no-such-dir|; s|/run/tierpage/tierpaged.sock|$WORK/sock|; s|state_dir: /run/tierpage|state_dir: $WORK/state|" \
    "$prefix/share/doc/tierpage/examples/tierpaged.yaml" >"$WORK/example.yaml"
expect_status 2 "the example configuration is read" -- "$prefix/sbin/tierpaged" -c "$WORK/example.yaml"
expect_output "cannot read the stacks directory $WORK/no-such-dir" "and only the missing directory stops it"
finish
