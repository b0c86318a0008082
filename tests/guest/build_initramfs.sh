#!/bin/bash
# Builds the initramfs the RDMA guest test boots: busybox, the kernel modules
# Soft-RoCE needs, tierpage's binaries and plugins from a build tree with
# every shared library they load, the rxe verbs provider, and an /init that
# runs the checks in tests/guest/rdma_checks.sh.
#
#   tests/guest/build_initramfs.sh --build BUILD_DIR --out IMAGE
#                                  [--kernel-version 6.1.0-NN-amd64] [--add FILE]...
#   tests/guest/build_initramfs.sh --no-rdma --init FILE --out IMAGE [--add FILE]...
#
# --add copies one more host program (with its libraries) into /usr/bin of
# the image, e.g. --add /usr/bin/ibv_devices for debugging; --checks FILE
# puts FILE in place of tests/guest/rdma_checks.sh. --no-rdma builds a
# guest of busybox and the --add programs only, with FILE as its /init
# (tests/compat_qemu.sh's memory test).
# Needs: busybox-static, cpio, gzip, the guest kernel's modules under
# /lib/modules/VERSION (linux-image-amd64), rdma-core and ibverbs-providers.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="" out="" kver="" extra=() checks="" init="$here/init.sh" rdma=1
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --kernel-version) kver=$2; shift 2 ;;
        --add) extra+=("$2"); shift 2 ;;
        --checks) checks=$2; shift 2 ;;
        --init) init=$2; shift 2 ;;
        --no-rdma) rdma=0; shift ;;
        *) echo "build_initramfs: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] && { [ -n "$build" ] || [ "$rdma" = 0 ]; } ||
    { echo "usage: $0 --build BUILD_DIR --out IMAGE [--kernel-version V] [--add FILE]... | --no-rdma --init FILE --out IMAGE [--add FILE]..." >&2; exit 2; }
[ -z "$build" ] || build=$(cd "$build" && pwd)

die() { echo "build_initramfs: $*" >&2; exit 1; }

busybox=/bin/busybox
[ -x "$busybox" ] || busybox=$(command -v busybox || true)
# A dynamically linked busybox (package busybox) would need its libc too.
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 || die "no static busybox (install busybox-static)"
command -v cpio >/dev/null || die "no cpio (install cpio)"
# The RDMA guest: the kernel modules, the verbs provider, tierpage.
if [ "$rdma" = 1 ]; then
    if [ -z "$kver" ]; then
        kver=$(ls /lib/modules 2>/dev/null | grep '^6\.1\.' | sort -V | tail -1 || true)
        [ -n "$kver" ] || die "no 6.1 kernel modules under /lib/modules (install linux-image-amd64)"
    fi
    moddir=/lib/modules/$kver
    [ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep is missing (install linux-image-amd64)"
    provider=$(ls /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so 2>/dev/null | head -1 || true)
    [ -n "$provider" ] && [ -f /etc/libibverbs.d/rxe.driver ] || die "no rxe verbs provider (install ibverbs-providers)"
    for f in bin/tierpage bin/tierpage-memserver bin/tierpage-bench lib/libtierpage.so lib/tierpage/tierpage-rdma.so; do
        [ -e "$build/$f" ] || die "$build/$f is missing: build the tree first"
    done
fi

root=$(mktemp -d /tmp/tierpage-initramfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lib64}

# busybox and one link per applet.
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

# copy_with_libs FILE [DEST]: FILE at DEST (default: its own path) and every
# library ldd finds for it, at their own paths.
copy_with_libs() {
    local file=$1 dest=${2:-$1}
    mkdir -p "$root/$(dirname "$dest")"
    cp -L "$file" "$root/$dest"
    ldd "$file" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]+ \(/ {print $1}' | while read -r lib; do
        if [ ! -e "$root/$lib" ]; then
            mkdir -p "$root/$(dirname "$lib")"
            cp -L "$lib" "$root/$lib"
        fi
    done
}

if [ "$rdma" = 1 ]; then
    # Kernel modules, dependencies first (modules.dep lists them deepest last).
    modules_wanted=(crc32_generic dummy rdma_rxe rdma_ucm)
    order=()
    add_module() {
        local name=$1 line path deps dep
        line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep" | head -1) ||
            die "module $name not in $moddir/modules.dep"
        path=${line%%:*}
        deps=${line#*:}
        for dep in $(echo "$deps" | tr ' ' '\n' | tac); do
            dep=$(basename "$dep"); dep=${dep%%.ko*}
            add_module "$dep"
        done
        for o in "${order[@]:-}"; do [ "$o" = "$path" ] && return 0; done
        order+=("$path")
    }
    for m in "${modules_wanted[@]}"; do add_module "$m"; done
    mkdir -p "$root/lib/modules"
    : >"$root/etc/modules.load"
    for path in "${order[@]}"; do
        name=$(basename "$path"); name=${name%%.ko*}.ko
        case "$path" in
            *.ko.xz) xz -dc "$moddir/$path" >"$root/lib/modules/$name" ;;
            *.ko.zst) zstd -qdc "$moddir/$path" >"$root/lib/modules/$name" ;;
            *.ko.gz) gzip -dc "$moddir/$path" >"$root/lib/modules/$name" ;;
            *) cp "$moddir/$path" "$root/lib/modules/$name" ;;
        esac
        echo "$name" >>"$root/etc/modules.load"
    done

    # tierpage from the build tree, in its build layout (plugins beside the library).
    t=/opt/tierpage
    for f in tierpage tierpage-memserver tierpage-bench; do copy_with_libs "$build/bin/$f" "$t/bin/$f"; done
    for f in "$build"/lib/*.so*; do copy_with_libs "$f" "$t/lib/$(basename "$f")"; done
    for f in "$build"/lib/tierpage/*.so; do copy_with_libs "$f" "$t/lib/tierpage/$(basename "$f")"; done

    # The rxe verbs provider, loaded by libibverbs with dlopen.
    copy_with_libs "$provider"
    mkdir -p "$root/etc/libibverbs.d"
    cp /etc/libibverbs.d/rxe.driver "$root/etc/libibverbs.d/"
    # The rdma tool adds the rxe link; without it init falls back to the module parameter.
    if command -v rdma >/dev/null; then copy_with_libs "$(command -v rdma)" /usr/sbin/rdma; fi
fi
for f in "${extra[@]:-}"; do
    [ -n "$f" ] && copy_with_libs "$f" "/usr/bin/$(basename "$f")"
done

cp "$init" "$root/init"
chmod +x "$root/init"
if [ "$rdma" = 1 ]; then
    cp "${checks:-$here/rdma_checks.sh}" "$root/rdma_checks.sh"
    chmod +x "$root/rdma_checks.sh"
    echo "$kver" >"$root/etc/kernel-version"
fi

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
if [ "$rdma" = 1 ]; then
    echo "build_initramfs: $out ($(du -h "$out" | cut -f1)), kernel $kver, modules: $(tr '\n' ' ' <"$root/etc/modules.load")"
else
    echo "build_initramfs: $out ($(du -h "$out" | cut -f1)), /init from $init"
fi
