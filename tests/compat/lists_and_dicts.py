# Run by tests/compat_python.sh, under tierpage and without it: builds large
# lists and dicts, checks them against what arithmetic says they must hold,
# and prints a digest of their contents; then forks a child
# (multiprocessing, start method fork) that digests the same data and sends
# it back. Exits 1 when a check fails.
import hashlib
import multiprocessing
import sys

N = 1_200_000


def build():
    squares = [i * i for i in range(N)]
    names = {i: "item-%07d" % (i * 7 % N) for i in range(N // 2)}
    pairs = [(i, str(i)) for i in range(0, N, 3)]
    return squares, names, pairs


def digest(squares, names, pairs):
    h = hashlib.sha256()
    for i in range(0, N, 1000):
        h.update(b"%d" % squares[i])
    for k, v in names.items():
        if k % 997 == 0:
            h.update(v.encode())
    h.update(b"%d" % sum(squares))
    h.update(b"%d" % sum(len(v) for v in names.values()))
    h.update(b"%d" % sum(int(s) for _, s in pairs))
    return h.hexdigest()


def check(squares, names, pairs):
    ok = sum(squares) == (N - 1) * N * (2 * N - 1) // 6
    ok &= all(squares[i] == i * i for i in range(0, N, 7))
    ok &= len(names) == N // 2 and all(names[i] == "item-%07d" % (i * 7 % N) for i in range(0, N // 2, 5))
    ok &= sum(a for a, _ in pairs) == sum(range(0, N, 3))
    return ok


def child(conn, data):
    conn.send(digest(*data))
    conn.close()


def main():
    data = build()
    if not check(*data):
        print("lists and dicts: WRONG CONTENTS")
        return 1
    mine = digest(*data)
    print("lists and dicts:", mine)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(send, data))
    p.start()
    send.close()
    try:
        theirs = receive.recv()
    except EOFError:
        theirs = None
    p.join()
    print("forked child: exit %s, digest %s" % (p.exitcode, theirs))
    if not check(*data) or digest(*data) != mine:
        print("lists and dicts after the fork: WRONG CONTENTS")
        return 1
    print("lists and dicts after the fork: intact")
    return 0


sys.exit(main())
