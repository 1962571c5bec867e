"""One identity for a model folder, used by every cache, the shipped archive's name and the manifests.

`fingerprint(folder)` is a cheap key over the files the model reads: for each one its name, size,
mtime, ctime, inode and device, all from one `os.stat`. mtime alone is not enough: `cp -p` and
`rsync -a` give a replaced file an older mtime, and an older-dated copy of other weights may keep the
folder's newest mtime as it was. Writing a file's bytes or dates changes its ctime, and `os.replace`
gives the path a new inode, so both change the key. (A rewrite in place keeping size and mtime within
one tick of the kernel's clock is the limit of any stat-based key, as git's "racy" files are.)

`content_hash(folder)` is SHA-256 over the same files' names and bytes, for where content identity
matters: the jobs' model_version, and whether an ONNX graph is still from these weights after a copy
(new inodes and mtimes, same bytes). `cached_per_fingerprint` computes it, and the tokenizer
cache's entries, once per state of the folder.

The model's files are the folder's top-level regular files (config, weights and their shards,
tokenizer), dotfiles excluded. `exports=True` adds the exported graphs under onnx/ (with their
manifests): the shipped archive carries them, so its name must change when a graph is exported.
"""
from __future__ import annotations

import functools
import hashlib
import os

ONNX_DIR = "onnx"


def model_files(folder: str, exports: bool = False) -> list[str]:
    """Paths relative to `folder`, sorted: its top-level files, plus those under onnx/ with exports."""
    files = _visible_files(folder)
    if exports and os.path.isdir(os.path.join(folder, ONNX_DIR)):
        files += [f"{ONNX_DIR}/{name}" for name in _visible_files(os.path.join(folder, ONNX_DIR))]
    return sorted(files)


def _visible_files(folder: str) -> list[str]:
    return [f for f in os.listdir(folder) if not f.startswith(".") and os.path.isfile(os.path.join(folder, f))]


def fingerprint(folder: str, exports: bool = False) -> str:
    """16 hex digits that change whenever one of the model's files is written, replaced, added or removed."""
    digest = hashlib.sha256()
    for name in model_files(folder, exports):
        st = os.stat(os.path.join(folder, name))
        digest.update(f"{name}\0{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} {st.st_dev}\n".encode())
    return digest.hexdigest()[:16]


def cached_per_fingerprint(maxsize: int):
    """Decorator: `fn(folder, *args)` computed once per state of the folder (real path + fingerprint);
    a result read while the folder's files changed is computed again."""

    def wrap(fn):
        @functools.lru_cache(maxsize=maxsize)
        def cached(folder: str, key: str, *args):  # key: only what makes a new state a cache miss
            return fn(folder, *args)

        @functools.wraps(fn)
        def lookup(folder: str, *args):
            folder = os.path.realpath(folder)
            key = fingerprint(folder)
            while True:
                value = cached(folder, key, *args)
                now = fingerprint(folder)
                if now == key:
                    return value
                key = now

        lookup.cache_clear = cached.cache_clear
        return lookup

    return wrap


@cached_per_fingerprint(maxsize=16)
def content_hash(folder: str) -> str:
    """"sha256:<hex>" over the model files' names, sizes and bytes; equal for equal files wherever they lie."""
    digest = hashlib.sha256()
    for name in model_files(folder):
        path = os.path.join(folder, name)
        digest.update(f"{name}\0{os.path.getsize(path)}\0".encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()
