"""Shared fixtures of the unit tests."""

import random

import pytest


class FakeTime:
    """A monotonic clock that only moves when something sleeps; every sleep is recorded."""

    def __init__(self, now=1000.0):
        self.now = now
        self.sleeps = []
        self.rng = random.Random(14)

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def retry_kwargs(self):
        """What every retrying client takes to run on this clock."""
        return {"clock": self, "sleep": self.sleep, "rng": self.rng}


@pytest.fixture()
def fake_time():
    return FakeTime()


class ScriptedServer:
    """A local HTTP server answering each (method, path) from a script: a list of
    (status, body bytes, headers) used in order, the last one repeated; requests are recorded
    as (method, path with query, headers)."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        script = self
        self.routes = {}
        self.seen = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                with script.lock:
                    script.seen.append((self.command, self.path, dict(self.headers)))
                    answers = script.routes.get((self.command, self.path.split("?")[0])) \
                        or [(404, b"no route", {})]
                    status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def add(self, method, path, *answers):
        self.routes[(method, path)] = list(answers)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def scripted_http():
    server = ScriptedServer()
    yield server
    server.close()
