"""A model folder of a stage's own: the files of a folder hard-linked into a driver-local temp folder
(free on one file system; copied across file systems), kept until the process exits.

A stage loaded from a saved pipeline reads its weights from such a copy, never from the saved path:
pyspark's overwrite deletes that path before any stage writes, and a user may move or delete it, but
neither can take away the files the stage holds. Every file written into the model folder later
(an ONNX export, its manifest) is a new file there, so the saved pipeline is never changed through it.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def private_folder(name: str) -> str:
    """A new, not yet existing path `<temp>/sparklong-model-*/<name>`, removed when the process exits."""
    root = tempfile.mkdtemp(prefix="sparklong-model-")
    atexit.register(shutil.rmtree, root, True)  # executors in local mode read it until the app ends
    return os.path.join(root, name)


def private_copy(folder: str) -> str:
    """A private copy of `folder` (same name, regular files only: symlinks are followed)."""
    target = private_folder(os.path.basename(os.path.normpath(folder)))
    shutil.copytree(folder, target, copy_function=_link_or_copy)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # follows a symlink: the copy links the file it points to
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst)
