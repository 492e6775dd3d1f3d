#!/usr/bin/env python3
"""Linux peers of the WSK provider conformance run, on loopback only.

On 127.0.0.1 and ::1 each: a TCP echo server, a UDP echo server, and a "closed" TCP port
(a socket bound but never listening, so connections are refused and no other program can
take the port). Also reports spare ports (bound to 0 and released at once) that the
conformance driver binds for its own listener and client.

Prints one JSON line: {"event": "ready", "tcp": [p4, p6], "udp": [p4, p6],
"closed": [p4, p6], "spare4": [...], "spare6": [...]}, then one line per TCP accept
({"event": "accept", ...}) and per UDP datagram ({"event": "datagram", ...}).
Exits when its stdin reaches end of file (the harness holds the other end of that pipe).
"""
import json
import os
import selectors
import socket
import sys

HOSTS = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
SPARE = 4


def emit(**fields):
    print(json.dumps(fields), flush=True)


def spare_ports(family, host, count):
    ports, held = [], []
    while len(ports) < count:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        held.append(s)
        if port not in ports:
            ports.append(port)
    for s in held:
        s.close()
    return ports


def main():
    sel = selectors.DefaultSelector()
    tcp, udp, closed, keep = [], [], [], []
    for family, host in HOSTS:
        t = socket.socket(family, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((host, 0))
        t.listen(64)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, ("listen", None))
        tcp.append(t.getsockname()[1])
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.bind((host, 0))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, ("udp", None))
        udp.append(u.getsockname()[1])
        c = socket.socket(family, socket.SOCK_STREAM)
        c.bind((host, 0))
        closed.append(c.getsockname()[1])
        keep += [t, u, c]
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, ("stdin", None))
    emit(event="ready", tcp=tcp, udp=udp, closed=closed,
         spare4=spare_ports(socket.AF_INET, "127.0.0.1", SPARE),
         spare6=spare_ports(socket.AF_INET6, "::1", SPARE))

    while True:
        for key, _ in sel.select(timeout=1.0):
            kind, state = key.data
            if kind == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
            elif kind == "listen":
                try:
                    conn, addr = key.fileobj.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, ("conn", bytearray()))
                emit(event="accept", peer=str(addr[:2]))
            elif kind == "udp":
                try:
                    data, addr = key.fileobj.recvfrom(65536)
                except BlockingIOError:
                    continue
                emit(event="datagram", peer=str(addr[:2]), bytes=len(data))
                key.fileobj.sendto(data, addr)
            elif kind == "conn":
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    sock.close()
                    continue
                # Small payloads: a blocking send of the echo is fine.
                sock.setblocking(True)
                try:
                    sock.sendall(data)
                except OSError:
                    pass
                sock.setblocking(False)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
