# `tierpage run -- gcc -O2` compiling a generated C file of 1200 functions
# (cc1 grows to about 100 MiB) through a 16 MiB resident cap and a pmem
# tier: the object file is the same as without tierpage, and links into a
# program that prints the same.
. "$(dirname "$0")/script_lib.sh"
trap 'cleanup_shm; rm -rf "$WORK"' EXIT
small_stack "$WORK/s.yaml" 16MiB 16MiB 1GiB

python3 - "$WORK/big.c" <<'PY'
import sys
n = 1200
with open(sys.argv[1], "w") as f:
    f.write("#include <stdint.h>\n#include <stdio.h>\n")
    for i in range(n):
        f.write("static uint64_t f%d(uint64_t x) { uint64_t a = x * %d + %d;"
                " for (int i = 0; i < %d; i++) { a ^= a << 13; a ^= a >> 7; a += %du * i; }"
                " if (a %% 3 == 0) return a + %d; else return a * %d; }\n" % (i, 2 * i + 1, i, i % 17 + 3, i, i, i + 3))
    f.write("int main(void) {\n uint64_t x = 1;\n")
    for i in range(n):
        f.write(" x = f%d(x);\n" % i)
    f.write(' printf("%llu\\n", (unsigned long long)x);\n return 0;\n}\n')
PY
expect_status 0 "gcc without tierpage" -- gcc -O2 -c "$WORK/big.c" -o "$WORK/plain.o"
# The driver opens the stack before its main and holds it (and its pmem
# file) while cc1 and as, which it starts with vfork and exec, serve:
# each opens the stack apart from the driver's, with a pmem file of its
# own (README, fork). --stats gives cc1's stats as gcc.json.PID.
expect_status 0 "tierpage run -- gcc, 16 MiB resident, dram then pmem" -- \
    timeout 1200 "$TIERPAGE" run -c "$WORK/s.yaml" --stats "$WORK/gcc.json" -- \
    gcc -O2 -c "$WORK/big.c" -o "$WORK/paged.o"
expect_same "the same object file as without tierpage" "$WORK/plain.o" "$WORK/paged.o"
expect_status 0 "the object links" -- gcc "$WORK/paged.o" -o "$WORK/paged"
"$WORK/paged" >"$WORK/paged.txt" 2>&1 && gcc "$WORK/plain.o" -o "$WORK/plain" && "$WORK/plain" >"$WORK/plain.txt" 2>&1
expect_same "and the program prints what the one compiled without tierpage prints" "$WORK/plain.txt" "$WORK/paged.txt"
# One process that served through the cap: cc1 (the driver and as serve
# little or nothing).
python3 - "$WORK/gcc.json" >"$WORK/cc1.json" <<'PY'
import glob, json, sys
runs = [json.load(open(f)) for f in glob.glob(sys.argv[1] + ".*")]
print(json.dumps(max(runs, key=lambda d: d["faults"], default={"faults": 0, "tiers": []})))
PY
expect_paged "gcc's cc1" "$WORK/cc1.json"
left=$(ls /dev/shm | grep -c "tierpage-test-$$-.*fork-" || true)
[ "$left" = 0 ] && pass "no pmem file of cc1 or as is left" || fail "$left pmem files left in /dev/shm"
finish
