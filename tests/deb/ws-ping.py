"""A WebSocket round trip for tests/deb/run.sh: opens /.well-known/mercure on HOST:PORT as a browser
page of that origin would, sends {"type":"ping"} and waits for the hub's {"type":"pong"}.

Usage: python3 ws-ping.py HOST PORT. Exits 0 with "pong", else with a message saying what failed.
"""

import base64
import hashlib
import json
import os
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
key = base64.b64encode(os.urandom(16)).decode()
sock = socket.create_connection((host, port), timeout=10)
sock.sendall(
    (
        f"GET /.well-known/mercure HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host}:{port}\r\n\r\n"
    ).encode()
)

received = b""


def need(count):
    """Reads until `received` holds at least `count` bytes."""
    global received
    while len(received) < count:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit(f"the connection closed early; received so far: {received[:300]!r}")
        received += chunk


while b"\r\n\r\n" not in received:
    need(len(received) + 1)
head, received = received.split(b"\r\n\r\n", 1)
lines = head.decode("latin-1").split("\r\n")
if " 101 " not in lines[0] + " ":
    sys.exit(f"the WebSocket handshake was answered {lines[0]!r}, not 101 Switching Protocols")
expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
if headers.get("sec-websocket-accept") != expected:
    sys.exit(f"Sec-WebSocket-Accept is {headers.get('sec-websocket-accept')!r}, not {expected!r}")

# One masked text frame, as clients send.
payload = b'{"type":"ping"}'
mask = os.urandom(4)
sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

while True:
    need(2)
    opcode, length, offset = received[0] & 0x0F, received[1] & 0x7F, 2
    if length == 126:
        need(4)
        length, offset = int.from_bytes(received[2:4], "big"), 4
    elif length == 127:
        need(10)
        length, offset = int.from_bytes(received[2:10], "big"), 10
    need(offset + length)
    data, received = received[offset : offset + length], received[offset + length :]
    if opcode == 0x8:
        sys.exit(f"the hub closed the WebSocket instead of answering: {data!r}")
    if opcode == 0x1 and json.loads(data).get("type") == "pong":
        print("pong")
        break
