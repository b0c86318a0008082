# Writes N blocks of 1 MiB (each a malloc'd bytes object, so each its own
# served region), then reads them all twice in order, hashing each block,
# and exits 1 when a block's hash changed. Prints the seconds each read
# pass took. Usage: blocks_read_twice.py N
import hashlib
import os
import sys
import time

blocks = [os.urandom(1 << 20) for _ in range(int(sys.argv[1]))]
first = [hashlib.sha256(b).digest() for b in blocks]
for read_pass in (1, 2):
    start = time.monotonic()
    changed = sum(hashlib.sha256(b).digest() != d for b, d in zip(blocks, first))
    print(f"pass {read_pass}: {time.monotonic() - start:.2f} s, {changed} blocks changed")
    if changed:
        sys.exit(1)
