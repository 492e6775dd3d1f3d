#!/usr/bin/env python3
"""UDP peer on 127.0.0.1 or ::1 for the driver's UDP endpoints.

--mode check   sends --count datagrams of random sizes (--min..--max bytes, seeded) to the
               driver's UDP echo service at --port, one at a time, and checks that each comes
               back unchanged (up to --retries resends each when one is lost). Prints
               {"event": "done", "sent": N, "ok": K, "altered": A, "lost": L, "resent": R,
                "bytes": B, "seconds": T}.
--mode answer  binds an OS-chosen port, prints {"event": "bound", "port": P}; for every
               datagram it prints {"event": "datagram", "from": "ip:port", "hex": ...} and
               sends b"re:" + the datagram back to its sender. Exits at stdin EOF.
"""
import argparse
import json
import os
import random
import selectors
import socket
import sys
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check(args):
    rng = random.Random(args.seed)
    sock = socket.socket(family_of(args.host), socket.SOCK_DGRAM)
    sock.bind((args.host, 0))
    sock.settimeout(args.wait)
    target = (args.host, args.port)
    ok = altered = lost = resent = total = 0
    started = time.monotonic()
    for index in range(args.count):
        size = rng.randint(args.min, args.max)
        # A unique head (the index) so a late echo of an earlier datagram is recognised.
        head = index.to_bytes(4, "big")
        data = (head + os.urandom(size))[:size] if size >= 4 else os.urandom(size)
        for attempt in range(args.retries + 1):
            if attempt:
                resent += 1
            sock.sendto(data, target)
            try:
                while True:
                    back, _ = sock.recvfrom(65536)
                    if size >= 4 and back[:4] != head and len(back) >= 4:
                        continue  # a late echo of an earlier datagram
                    break
            except socket.timeout:
                continue
            if back == data:
                ok += 1
            else:
                altered += 1
            total += len(data)
            break
        else:
            lost += 1
    emit(event="done", sent=args.count, ok=ok, altered=altered, lost=lost, resent=resent,
         bytes=total, seconds=round(time.monotonic() - started, 4))


def answer(args):
    sock = socket.socket(family_of(args.host), socket.SOCK_DGRAM)
    sock.bind((args.host, 0))
    sock.setblocking(False)
    emit(event="bound", port=sock.getsockname()[1])
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
                continue
            try:
                data, addr = sock.recvfrom(65536)
            except BlockingIOError:
                continue
            host = "[%s]" % addr[0] if ":" in addr[0] else addr[0]
            emit(event="datagram", **{"from": "%s:%d" % (host, addr[1])}, hex=data.hex())
            sock.sendto(b"re:" + data, addr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["check", "answer"], required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--min", type=int, default=1)
    ap.add_argument("--max", type=int, default=1400)
    ap.add_argument("--seed", type=int, default=251)
    ap.add_argument("--wait", type=float, default=1.0, help="seconds to wait for each echo")
    ap.add_argument("--retries", type=int, default=3)
    args = ap.parse_args()
    if args.mode == "check":
        check(args)
    else:
        answer(args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
