#!/bin/sh
# Out-of-tree plugin build: install the build tree into a temporary prefix,
# compile plugins/example with only -I$prefix/include, and prove the result
# with the installed `tierpage plugin-test`.
#
#   install_example.sh BUILD_DIR SOURCE_DIR [PLUGIN_TEST_COMMAND...]
#
# PLUGIN_TEST_COMMAND defaults to "$prefix/bin/tierpage plugin-test".
set -eu
build=$1
src=$2
shift 2

prefix=$(mktemp -d "${TMPDIR:-/tmp}/tierpage-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/tierpage_store.h"

cc=${CC:-cc}
"$cc" -std=c11 -Wall -Wextra -Werror -shared -fPIC -I"$prefix/include" \
    "$src/plugins/example/example_store.c" -o "$prefix/example.so" -pthread

if [ $# -eq 0 ]; then
    set -- "$prefix/bin/tierpage" plugin-test
fi

echo "== example store, built out of tree"
"$@" "$prefix/example.so" --option capacity=1MiB

echo "== dram, found beside the installed libtierpage.so"
env -u TIERPAGE_PLUGIN_PATH "$@" dram --option capacity=4MiB
