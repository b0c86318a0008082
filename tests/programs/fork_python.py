# Python's multiprocessing with fork over large lists and a large bytearray,
# under tierpage run: the workers see the data as it was at the fork, a
# child's writes stay its own.
import hashlib
import multiprocessing as mp
import sys

N = 250_000
data = [i * 7919 % 1_000_003 for i in range(N)]
blob = bytearray(b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(1 << 18)))  # 8 MiB
expected = sum(data)
expected_blob = hashlib.sha256(blob).hexdigest()


def part(k):
    return sum(data[k::4]), hashlib.sha256(blob[k::4]).hexdigest()


def scribble(q):
    for i in range(0, N, 3):
        data[i] = -1
    blob[::4096] = b"\xff" * len(blob[::4096])
    q.put((sum(data), hashlib.sha256(blob).hexdigest()))


if __name__ == "__main__":
    mp.set_start_method("fork")
    failures = 0
    with mp.Pool(4) as pool:
        parts = pool.map(part, range(4))
    if sum(p[0] for p in parts) != expected:
        print("FAIL: the workers' sums of the list")
        failures += 1
    if [p[1] for p in parts] != [hashlib.sha256(blob[k::4]).hexdigest() for k in range(4)]:
        print("FAIL: the workers' hashes of the bytearray")
        failures += 1
    q = mp.Queue()
    child = mp.Process(target=scribble, args=(q,))
    child.start()
    child_sum, child_hash = q.get()
    child.join()
    changed = bytearray(blob)
    changed[::4096] = b"\xff" * len(changed[::4096])
    if child.exitcode != 0 or child_sum != expected - sum(data[0::3]) - len(data[0::3]):
        print("FAIL: the child's own writes to the list")
        failures += 1
    if child_hash != hashlib.sha256(changed).hexdigest():
        print("FAIL: the child's own writes to the bytearray")
        failures += 1
    if sum(data) != expected or hashlib.sha256(blob).hexdigest() != expected_blob:
        print("FAIL: the parent's data after its child wrote")
        failures += 1
    print("fork_python: %s" % ("all checks passed" if not failures else "%d checks failed" % failures))
    sys.exit(1 if failures else 0)
