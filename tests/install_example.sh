#!/bin/sh
# Out-of-tree plugin build: install the build tree into a temporary prefix,
# compile plugins/example with only -I$prefix/include, and prove the result
# with the installed `tierpage plugin-test`.
#
#   install_example.sh BUILD_DIR SOURCE_DIR
#
# $CMAKE and $CC name the cmake and the compiler to use.
set -eu
build=$1
src=$2

prefix=$(mktemp -d "${TMPDIR:-/tmp}/tierpage-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT

"${CMAKE:-cmake}" --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/tierpage_store.h"

cc=${CC:-cc}
"$cc" -std=c11 -Wall -Wextra -Werror -shared -fPIC -I"$prefix/include" \
    "$src/plugins/example/example_store.c" -o "$prefix/example.so" -pthread

echo "== example store, built out of tree"
"$prefix/bin/tierpage" plugin-test "$prefix/example.so" --option capacity=1MiB

echo "== dram, found beside the installed libtierpage.so"
env -u TIERPAGE_PLUGIN_PATH "$prefix/bin/tierpage" plugin-test dram --option capacity=4MiB
