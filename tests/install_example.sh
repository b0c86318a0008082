#!/bin/sh
# Out-of-tree builds: install the build tree into a temporary prefix, check
# that the installed tierpage.pc names that prefix, compile plugins/example
# with only `pkg-config --cflags tierpage` and prove the result with the
# installed `tierpage plugin-test`, and build and run a program against the
# installed library with only `pkg-config --cflags --libs tierpage`.
#
#   install_example.sh BUILD_DIR SOURCE_DIR
#
# $CMAKE and $CC name the cmake and the compiler to use; $PROGRAM_FLAGS, if
# set, is added when linking the program (a sanitized build needs it).
set -eu
build=$1
src=$2

prefix=$(mktemp -d "${TMPDIR:-/tmp}/tierpage-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT

"${CMAKE:-cmake}" --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/tierpage_store.h"

pc=$(find "$prefix" -name tierpage.pc)
test -n "$pc" || { echo "no tierpage.pc under $prefix" >&2; exit 1; }
export PKG_CONFIG_PATH=${pc%/tierpage.pc}
got=$(pkg-config --variable=prefix tierpage)
if [ "$got" != "$prefix" ]; then
    echo "tierpage.pc says prefix=$got, installed under $prefix" >&2
    exit 1
fi

cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config's output is a list of words
"$cc" -std=c11 -Wall -Wextra -Werror -shared -fPIC $(pkg-config --cflags tierpage) \
    "$src/plugins/example/example_store.c" -o "$prefix/example.so" -pthread

echo "== a program linked against the installed library"
libdir=$(pkg-config --variable=libdir tierpage)
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags tierpage) "$src/tests/programs/library_client.c" \
    -o "$prefix/library-client" $(pkg-config --libs tierpage) -Wl,-rpath,"$libdir" ${PROGRAM_FLAGS:-}
env -u TIERPAGE_PLUGIN_PATH "$prefix/library-client"

echo "== example store, built out of tree"
"$prefix/bin/tierpage" plugin-test "$prefix/example.so" --option capacity=1MiB

echo "== dram, found beside the installed libtierpage.so"
env -u TIERPAGE_PLUGIN_PATH "$prefix/bin/tierpage" plugin-test dram --option capacity=4MiB
