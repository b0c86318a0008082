#!/bin/sh
# usage: bench_uffd_floor.sh TIERPAGE-UFFD-FLOOR
# The floor tool runs end to end (both memory kinds). Skipped (77) where
# userfaultfd is not available to this user.
set -u
floor=$1
if ! out=$("$floor" --pages 64 2>&1); then
    case "$out" in
        *userfaultfd:*) echo "SKIP: $out"; exit 77 ;;
    esac
    echo "FAIL: $out" >&2
    exit 1
fi
echo "$out"
out=$("$floor" --pages 64 --shmem --same-cpu --json) || { echo "FAIL: --shmem: $out" >&2; exit 1; }
echo "$out"
case "$out" in *'"uffd_copy":{"p50_us":'*) ;; *) echo "FAIL: no uffd_copy in the JSON" >&2; exit 1 ;; esac
echo "PASS"
