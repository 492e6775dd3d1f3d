#!/usr/bin/env python3
"""Linux peers of the WSK provider conformance run, on loopback only.

On 127.0.0.1 and ::1 each: a TCP echo server, a UDP echo server, and a "closed" TCP port
(a socket bound but never listening, so connections are refused and no other program can
take the port). Also reports spare ports (bound to 0 and released at once) that the
conformance driver binds for its own listener and client.

Also a client helper on 127.0.0.1 (TCP): the driver sends it one command line per
connection and it acts as a Linux client of the driver's own sockets:
  "tcp <port> <hex>\n"  connect to 127.0.0.1:<port>, send the bytes, read as many back;
  "udp <port> <hex>\n"  send the bytes as one datagram to 127.0.0.1:<port>, read one reply;
and answers "ok <hex of what came back>\n" or "err <reason>\n" (3 s per step).

Prints one JSON line: {"event": "ready", "tcp": [p4, p6], "udp": [p4, p6],
"closed": [p4, p6], "spare4": [...], "spare6": [...], "helper": port}, then one line per TCP
accept ({"event": "accept", ...}), per UDP datagram ({"event": "datagram", ...}) and per
helper command ({"event": "helper", ...}).
Exits when its stdin reaches end of file (the harness holds the other end of that pipe).
"""
import json
import os
import selectors
import socket
import sys
import threading

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


STEP = 3.0
PRINT_LOCK = threading.Lock()


def run_command(line):
    """One helper command; returns the answer line (without newline)."""
    parts = line.split()
    if len(parts) != 3 or parts[0] not in ("tcp", "udp"):
        return "err bad command"
    kind, port, payload = parts[0], int(parts[1]), bytes.fromhex(parts[2])
    try:
        if kind == "tcp":
            with socket.create_connection(("127.0.0.1", port), timeout=STEP) as s:
                s.sendall(payload)
                back = b""
                while len(back) < len(payload):
                    chunk = s.recv(len(payload) - len(back))
                    if not chunk:
                        break
                    back += chunk
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(STEP)
                s.sendto(payload, ("127.0.0.1", port))
                back, _ = s.recvfrom(65536)
    except OSError as e:
        return "err " + type(e).__name__
    return "ok " + back.hex()


def serve_helper(conn):
    with conn:
        conn.settimeout(10.0)
        line = b""
        try:
            while not line.endswith(b"\n") and len(line) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                line += chunk
            answer = run_command(line.decode("ascii", "replace").strip())
            with PRINT_LOCK:
                emit(event="helper", command=line.decode("ascii", "replace").strip()[:80], answer=answer[:80])
            conn.sendall(answer.encode() + b"\n")
        except OSError:
            pass


def helper_loop(listener):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve_helper, args=(conn,), daemon=True).start()


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
    helper = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    helper.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    helper.bind(("127.0.0.1", 0))
    helper.listen(16)
    threading.Thread(target=helper_loop, args=(helper,), daemon=True).start()
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, ("stdin", None))
    with PRINT_LOCK:
        emit(event="ready", tcp=tcp, udp=udp, closed=closed,
             spare4=spare_ports(socket.AF_INET, "127.0.0.1", SPARE),
             spare6=spare_ports(socket.AF_INET6, "::1", SPARE),
             helper=helper.getsockname()[1])

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
                with PRINT_LOCK:
                    emit(event="accept", peer=str(addr[:2]))
            elif kind == "udp":
                try:
                    data, addr = key.fileobj.recvfrom(65536)
                except BlockingIOError:
                    continue
                with PRINT_LOCK:
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
