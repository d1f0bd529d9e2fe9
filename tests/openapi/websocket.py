"""Checks the WebSocket part of the OpenAPI document against the running hub.

Schemathesis speaks plain HTTP, so tests/openapi/run.sh runs this too: it fetches the document
the hub serves, opens a WebSocket on each documented path (`/.well-known/mercure` and `/ws`) with
a valid token, checks the `101` answer and its documented headers, then sends one of each client
message the document describes (each first validated against its schema: `WsPing`,
`WsSubscribe`, `WsPublish`, `WsPublishBatch`, `WsUnsubscribe`), plus one the hub must refuse, and validates every
answer against the schema the document gives for it (`WsPong`, `WsAck`, `EventMessage`,
`WsError`). Usage: websocket.py HOST:PORT (the token's key in HERALD_OPENAPI_JWT_KEY).
"""

import base64
import hashlib
import json
import os
import socket
import sys
import urllib.request

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hooks  # noqa: E402  (the token minting the schemathesis run uses)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TOPIC = "/openapi/websocket-check"


class Peer:
    """A minimal WebSocket client (RFC 6455): masked text frames out, unfragmented frames in."""

    def __init__(self, address, path, token):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if self.status == 101 and self.headers.get("sec-websocket-accept") != expected:
            raise AssertionError(f"{path}: Sec-WebSocket-Accept is not the handshake's: {self.headers}")

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("the hub closed the connection")
        return data

    def _take(self, n):
        while len(self.buffer) < n:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, message):
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        size = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big"))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self):
        """The next text message, as JSON (pings from the hub are skipped)."""
        while True:
            first, second = self._take(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(self._take(2), "big")
            elif size == 127:
                size = int.from_bytes(self._take(8), "big")
            payload = self._take(size)
            opcode = first & 0x0F
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                raise AssertionError(f"the hub closed the WebSocket: {payload!r}")

    def close(self):
        self.sock.close()


def main():
    address = sys.argv[1]
    with urllib.request.urlopen(f"http://{address}/openapi.yaml", timeout=10) as response:
        document = yaml.safe_load(response.read())
    schemas = document["components"]["schemas"]

    def check(name, value):
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(value)

    token = hooks.mint(lifetime=60)
    checked = 0
    for path in ["/.well-known/mercure", "/ws"]:
        upgrade = document["paths"][path]["get"]["responses"]["101"]
        documented = document["components"]["responses"][upgrade["$ref"].rsplit("/", 1)[1]]
        peer = Peer(address, path, token)
        assert peer.status == 101, f"{path}: the handshake was answered {peer.status}, not 101"
        for name, header in documented["headers"].items():
            value = peer.headers.get(name.lower())
            assert value is not None or not header.get("required"), f"{path}: no {name} header"
            if value is not None:
                jsonschema.Draft202012Validator(header["schema"]).validate(value)

        def exchange(kind, message, *answers):
            """Sends `message` (valid as `kind`), then validates one answer per name in `answers`,
            in any order; returns them by name."""
            nonlocal checked
            check(kind, message)
            peer.send(message)
            got = {}
            for _ in answers:
                answer = peer.receive()
                name = {"pong": "WsPong", "ack": "WsAck", "event": "EventMessage", "error": "WsError"}[answer["type"]]
                assert name in answers and name not in got, f"{path}: unexpected {answer} after {message}"
                check(name, answer)
                checked += 1
                got[name] = answer
            return got

        exchange("WsPing", {"type": "ping", "ref": 1}, "WsPong")
        ack = exchange("WsSubscribe", {"type": "subscribe", "match": TOPIC, "ref": "s"}, "WsAck")["WsAck"]
        assert ack["for"] == "subscribe" and ack["ref"] == "s", ack
        got = exchange(
            "WsPublish",
            {"type": "publish", "topic": [TOPIC], "data": "hi", "event": "greeting", "retry": 10, "ref": 3},
            "WsAck",
            "EventMessage",
        )
        assert got["EventMessage"]["id"] == got["WsAck"]["id"] and got["EventMessage"]["data"] == "hi", got
        got = exchange(
            "WsPublishBatch",
            {"type": "publish_batch", "updates": [{"topic": TOPIC, "data": "batched", "type": "b"}], "ref": 5},
            "WsAck",
            "EventMessage",
        )
        assert got["WsAck"]["ids"] == [got["EventMessage"]["id"]] and got["EventMessage"]["data"] == "batched", got
        error = exchange("WsPublish", {"type": "publish", "topic": "*", "ref": 4}, "WsError")["WsError"]
        assert error["code"] == "bad_request" and error["ref"] == 4, error
        exchange("WsUnsubscribe", {"type": "unsubscribe"}, "WsAck")
        peer.close()
    assert set(schemas) >= {"WsPing", "WsSubscribe", "WsPublish", "WsPublishBatch", "WsUnsubscribe", "WsPong", "WsAck", "WsError"}
    print(f"WebSocket: {checked} answers on 2 paths valid against the document")


if __name__ == "__main__":
    main()
