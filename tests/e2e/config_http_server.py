#!/usr/bin/env python3
"""Serves the files of DIR on 127.0.0.1 (a free port, printed as "listening 127.0.0.1:PORT")
for the config refresh end-to-end tests. Per file NAME, the test may add NAME.status (answer
with that HTTP status instead) and NAME.delay (seconds to wait before answering)."""
import http.server
import os
import sys
import time

ROOT = sys.argv[1]


def read(name):
    try:
        with open(os.path.join(ROOT, name), "rb") as f:
            return f.read()
    except OSError:
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = os.path.basename(self.path.split("?")[0])
        delay = read(name + ".delay")
        if delay:
            time.sleep(float(delay))
        status = read(name + ".status")
        body = read(name)
        code = int(status) if status else (200 if body is not None else 404)
        body = body if code == 200 and body is not None else b"error\n"
        try:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout tests)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print("listening 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
