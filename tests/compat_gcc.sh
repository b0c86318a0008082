# gcc -O2 compiling a generated C file of 1200 functions (cc1 grows to
# about 100 MiB) through a 16 MiB resident cap: the object file is the same
# as without tierpage, and links into a program that prints the same.
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
# The gcc driver runs cc1 and as under tierpage run (gcc's -wrapper), one
# after the other, rather than `tierpage run -- gcc`: there the driver opens
# the stack before its main and keeps it while cc1, started with vfork and
# exec, opens one of its own, which the pmem tier refuses ("is in use by
# another open store": one stack per pmem file), so cc1 exits 125.
# Each run's summary goes to stderr (--stats would be one file, which the
# run of as, starting, removes).
expect_status 0 "gcc with cc1 under tierpage run, 16 MiB resident" -- \
    timeout 1200 gcc -O2 -c "$WORK/big.c" -o "$WORK/paged.o" \
    -wrapper "$TIERPAGE,run,-c,$WORK/s.yaml,--"
cp "$WORK/out" "$WORK/gcc.log"
expect_same "the same object file as without tierpage" "$WORK/plain.o" "$WORK/paged.o"
expect_status 0 "the object links" -- gcc "$WORK/paged.o" -o "$WORK/paged"
"$WORK/paged" >"$WORK/paged.txt" 2>&1 && gcc "$WORK/plain.o" -o "$WORK/plain" && "$WORK/plain" >"$WORK/plain.txt" 2>&1
expect_same "and the program prints what the one compiled without tierpage prints" "$WORK/plain.txt" "$WORK/paged.txt"
expect_paged "gcc's cc1" "$WORK/gcc.log"
finish
