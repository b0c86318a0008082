# What the built objects export: libtierpage.so exactly the functions of
# tierpage.h; the preload shim every function it interposes, unversioned
# (a program's calls are versioned by glibc, malloc@GLIBC_2.2.5, and only an
# unversioned definition takes them), and nothing of the pager.
. "$(dirname "$0")/script_lib.sh"
LIB=$BUILD/lib/libtierpage.so
SHIM=$BUILD/lib/libtierpage-preload.so

# names FILE: the defined dynamic symbols of FILE, one a line, as NAME@VERSION
names() {
    nm -D --defined-only "$1" | awk '$2 != "A" { print $3 }' | sort
}

# the functions tierpage.h declares (each marked TP_API)
grep -oE '\btp_[a-z_]+\(' "$SRC/core/tierpage.h" | tr -d '(' | sort -u >"$WORK/header"
grep -oE '^TP_API .*\btp_[a-z_]+\(' "$SRC/core/tierpage.h" | grep -oE 'tp_[a-z_]+\($' | tr -d '(' | sort -u \
    >"$WORK/marked"
[ -s "$WORK/header" ] && diff -u "$WORK/header" "$WORK/marked" >"$WORK/out" &&
    pass "every function tierpage.h declares is marked TP_API ($(wc -l <"$WORK/header"))" ||
    { fail "functions of tierpage.h not marked TP_API:"; sed 's/^/      /' "$WORK/out"; }

names "$LIB" >"$WORK/lib"
sed 's/@.*//' "$WORK/lib" | sort -u >"$WORK/lib_names"
if diff -u "$WORK/header" "$WORK/lib_names" >"$WORK/out"; then
    pass "libtierpage.so exports exactly the functions of tierpage.h"
else
    fail "libtierpage.so exports differ from tierpage.h (- header only, + library only):"
    sed 's/^/      /' "$WORK/out" | head -40
fi
grep -v '@@TIERPAGE_0$' "$WORK/lib" >"$WORK/out"
[ ! -s "$WORK/out" ] && pass "each under the version TIERPAGE_0" ||
    { fail "exported outside TIERPAGE_0:"; sed 's/^/      /' "$WORK/out"; }
nm -D --defined-only "$LIB" | awk '$2 != "T" && $2 != "A"' >"$WORK/out"
[ ! -s "$WORK/out" ] && pass "libtierpage.so exports no data" ||
    { fail "libtierpage.so exports data:"; sed 's/^/      /' "$WORK/out"; }

# The shim's interposers: its functions that are not static and not its
# files' own helpers (shim_*, real_*, pager_heap_*), aliases included.
awk '
    /^[A-Za-z_]/ && !/(^|[ )])static / && !/^extern/ && !/^typedef/ && match($0, /[A-Za-z_][A-Za-z0-9_]*\(/) {
        name = substr($0, RSTART, RLENGTH - 1)
        if ($0 ~ /alias\(/) { print name; next }
        pending = name; next
    }
    pending != "" && /^\{/ { print pending }
    { pending = "" }
' "$SRC"/shim/*.c | grep -Ev '^(shim_|real_|pager_heap_)' | sort -u >"$WORK/interposers"
for f in malloc free mmap mmap64 munmap mremap madvise mlock mlockall; do
    grep -qx "$f" "$WORK/interposers" || fail "the interposers read from shim/*.c miss $f"
done
names "$SHIM" >"$WORK/shim"
if diff -u "$WORK/interposers" "$WORK/shim" >"$WORK/out"; then
    pass "the shim exports exactly its $(wc -l <"$WORK/interposers") interposers, unversioned: $(tr '\n' ' ' <"$WORK/interposers")"
else
    fail "the shim's exports differ from its interposers (- not exported, + exported but not an interposer):"
    sed 's/^/      /' "$WORK/out" | head -40
fi
readelf -d "$SHIM" | grep -q 'NEEDED.*libtierpage' &&
    fail "the shim loads libtierpage.so into the program" ||
    pass "the shim does not load libtierpage.so (the pager is linked in, local)"
finish
