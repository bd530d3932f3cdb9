#!/usr/bin/env python3
"""Hold IDLE idle connections and SLOW slowloris connections (a request head sent one byte
every 0.2 s, never finished) open to a server on loopback for at most SECONDS, reopening
each one the server closes. Ends at SIGTERM or after SECONDS; prints how many times the
server closed an idle and a slow connection. For bench/serve: a real `ostree pull` must
complete while these are open.

Usage: slow-clients.py PORT IDLE SLOW SECONDS   (127.0.0.1 only, by design)
"""
import selectors
import signal
import socket
import sys
import time

port, n_idle, n_slow, seconds = (int(a) for a in sys.argv[1:5])
if not (0 < n_idle + n_slow <= 1000 and 0 < seconds <= 3600):
    sys.exit("slow-clients: at most 1000 connections for at most an hour")
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
sel = selectors.DefaultSelector()
closed = {"idle": 0, "slow": 0}


def connect(kind):
    if time.monotonic() >= end:
        return
    s = socket.socket()
    # Short: a server whose backlog is full must not hold the loop.
    s.settimeout(0.2)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return
    s.setblocking(False)
    if kind == "slow":
        try:
            s.send(b"GET /config HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            pass
    sel.register(s, selectors.EVENT_READ, kind)


end = time.monotonic() + seconds
for _ in range(n_idle):
    connect("idle")
for _ in range(n_slow):
    connect("slow")
next_byte = time.monotonic()
while not stop and time.monotonic() < end:
    for key, _ in sel.select(timeout=0.05):
        s, kind = key.fileobj, key.data
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            closed[kind] += 1
            connect(kind)
    if time.monotonic() >= next_byte:
        next_byte += 0.2
        for key in list(sel.get_map().values()):
            if key.data == "slow":
                try:
                    key.fileobj.send(b"X")
                except OSError:
                    pass
print(f"closed by the server: idle {closed['idle']}, slow {closed['slow']}")
