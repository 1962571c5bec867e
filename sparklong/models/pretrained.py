"""Pretrained names -> Hugging Face hub repos, resolved through a local cache folder.

`$SPARKLONG_CACHE` (default ~/.cache/sparklong)/<name>_<lang>/ is an HF-layout folder; when absent,
the mapped hub repo is downloaded into it (atomically: a temp folder renamed into place).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request

HUB_REPOS = {
    "longformer_base_4096": "allenai/longformer-base-4096",
    "longformer_large_4096": "allenai/longformer-large-4096",
    "longformer_large_4096_finetuned_triviaqa": "allenai/longformer-large-4096-finetuned-triviaqa",
    "longformer_qa_base_4096_finetuned_squadv2": "mrm8488/longformer-base-4096-finetuned-squadv2",
}
HUB_URL = "https://huggingface.co/{repo}/resolve/main/{file}"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_TOKENIZER = (
    "tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
)


def cache_root() -> str:
    return os.environ.get("SPARKLONG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sparklong")


def resolve(name: str, lang: str = "en", remote_loc: str | None = None) -> str:
    """The local folder of a pretrained model, downloading it once if needed."""
    folder = os.path.join(cache_root(), f"{name}_{lang}")
    if os.path.isfile(os.path.join(folder, "config.json")):
        return folder
    repo = remote_loc or HUB_REPOS.get(name)
    if repo is None:
        raise ValueError(
            f"unknown pretrained model '{name}'; known: {', '.join(sorted(HUB_REPOS))}, "
            f"or put an HF-layout folder at {folder}"
        )
    try:
        return _download(repo, folder)
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(
            f"pretrained model '{name}' is not in the cache ({folder}) and could not be downloaded from "
            f"huggingface.co/{repo} ({exc}). Either copy an HF-layout folder of it to {folder} "
            f"(or set SPARKLONG_CACHE to a folder holding {name}_{lang}/), or use "
            f"loadSavedModel(folder, spark) on a local copy."
        ) from exc


def _download(repo: str, folder: str) -> str:
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(folder))
    try:
        _fetch(repo, "config.json", staging, required=True)
        if not any(_fetch(repo, f, staging) for f in _WEIGHTS):
            raise OSError(f"{repo} has neither {' nor '.join(_WEIGHTS)}")
        for name in _TOKENIZER:
            _fetch(repo, name, staging)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _fetch(repo: str, name: str, folder: str, required: bool = False) -> bool:
    try:
        with urllib.request.urlopen(HUB_URL.format(repo=repo, file=name), timeout=60) as resp:
            with open(os.path.join(folder, name), "wb") as out:
                shutil.copyfileobj(resp, out, 1 << 20)
        return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and not required:
            return False
        raise
