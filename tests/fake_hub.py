"""A local stand-in for the Hugging Face hub over loopback: the model-info API with file hashes
(`/api/models/<repo>/revision/main?blobs=true`) and `/<repo>/resolve/<commit>/<file>`, served from a
folder, with switches to tamper with or cut off what it sends, redirect a request elsewhere, or refuse
a file the way a careless server might (echoing the request's Authorization header in its reason)."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".bin")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self, folder: str, repo: str):
        self.folder, self.repo = folder, repo
        self.tampered: dict[str, bytes] = {}  # file -> bytes sent instead of the real ones
        self.cut_off: set[str] = set()  # files whose transfer stops halfway (Content-Length stays full)
        self.requests: list[str] = []
        self.authorization: dict[str, str | None] = {}  # request path -> the Authorization header it came with
        self.redirects: dict[str, str] = {}  # request path -> URL it is sent to with a 302
        self.refused: set[str] = set()  # files answered 403, the reason echoing the Authorization header
        self.listing_override: dict | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def resolve_path(self, name: str) -> str:
        """The request path of a file at the listed commit."""
        return f"/{self.repo}/resolve/{COMMIT}/{name}"

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.folder, name), "rb") as fh:
            return fh.read()

    def listing(self) -> dict:
        """What the hub's API returns: every file with its size, git blob id, and LFS sha256 for weights."""
        if self.listing_override is not None:
            return self.listing_override
        siblings = []
        names = [os.path.relpath(os.path.join(parent, f), self.folder).replace(os.sep, "/")
                 for parent, _, files in os.walk(self.folder) for f in files]  # nested too (1_Pooling/config.json)
        for name in sorted(names):
            data = self.read(name)
            sibling = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
            if name.endswith(LFS_SUFFIXES):
                sibling["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
            siblings.append(sibling)
        return {"id": self.repo, "sha": COMMIT, "siblings": siblings + [{"rfilename": "README.md"}]}

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(self.path)
                hub.authorization[self.path] = self.headers.get("Authorization")
                if self.path in hub.redirects:
                    self.send_response(302)
                    self.send_header("Location", hub.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if path == f"/api/models/{hub.repo}/revision/main":
                    return self._send(json.dumps(hub.listing()).encode())
                prefix = hub.resolve_path("")
                name = path[len(prefix):] if path.startswith(prefix) else None
                if not name or not os.path.isfile(os.path.join(hub.folder, name)):
                    return self.send_error(404)
                if name in hub.refused:
                    return self.send_error(403, f"refused {self.headers.get('Authorization')}")
                data = hub.tampered.get(name, hub.read(name))
                self._send(data, cut=name in hub.cut_off)

            def _send(self, data: bytes, cut: bool = False):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if cut else data)
                if cut:
                    self.close_connection = True

        return Handler
