#!/usr/bin/env python3
"""GRIP origin behind Pushpin for the peer comparison (Python standard library only).

GET /sub/<channel>        answers a GRIP hold-stream: Pushpin keeps the client's response open
                          as an event stream and appends what is published to <channel>.
POST /sub/<channel>       WebSocket-over-HTTP: on OPEN, accepts the socket and subscribes it to
                          <channel> with a GRIP control message; other events get an empty answer.

Usage: origin.py PORT
"""
import http.server
import json
import sys
import urllib.parse

WS_EVENTS = "application/websocket-events"


def channel_of(path):
    path = urllib.parse.urlsplit(path).path
    prefix = "/sub/"
    return urllib.parse.unquote(path[len(prefix):]) if path.startswith(prefix) else None


def ws_event(kind, content=None):
    if content is None:
        return kind.encode() + b"\r\n"
    data = content.encode()
    return kind.encode() + b" " + format(len(data), "x").encode() + b"\r\n" + data + b"\r\n"


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, headers, body=b""):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        channel = channel_of(self.path)
        if channel is None:
            return self.answer(404, [("Content-Type", "text/plain")], b"not found\n")
        self.answer(200, [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-store"),
            ("Grip-Hold", "stream"),
            ("Grip-Channel", channel),
        ])

    def do_POST(self):
        channel = channel_of(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if channel is None or self.headers.get("Content-Type", "").split(";")[0] != WS_EVENTS:
            return self.answer(404, [("Content-Type", "text/plain")], b"not found\n")
        out = b""
        if body.startswith(b"OPEN"):
            control = json.dumps({"type": "subscribe", "channel": channel})
            out = ws_event("OPEN") + ws_event("TEXT", "c:" + control)
        elif body.startswith(b"CLOSE"):
            out = ws_event("CLOSE")
        self.answer(200, [("Content-Type", WS_EVENTS), ("Sec-WebSocket-Extensions", "grip")], out)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096

    def handle_error(self, request, client_address):
        # A peer that hangs up mid-answer (Pushpin closing a connection) is no error here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Origin).serve_forever()
