"""Pretrained names -> Hugging Face hub repos, resolved through a local cache folder.

`$SPARKLONG_CACHE` (default ~/.cache/sparklong)/<name>_<lang>/ is an HF-layout folder; when absent,
the mapped hub repo is downloaded into it:
- the file list and hashes come from the hub's API (`/api/models/<repo>/revision/main?blobs=true`),
  and files are fetched at that commit, so list and content belong together;
- every file is checked while it streams in: sha256 for LFS files (the weights), the git blob sha1
  for the others, and the size; a mismatch or a cut-off transfer fails the download;
- files land in a temporary folder next to the cache entry, renamed into place only when complete
  (atomic): a failed or concurrent download never leaves a half-written model behind.
`HF_ENDPOINT` (a mirror, or a local hub in tests) and `HF_TOKEN` are honoured as by huggingface_hub;
the token is sent to the `HF_ENDPOINT` host only, never along a redirect to another host, and never
shown in an error (hub_http.py). Names and their repos: docs/pretrained.md.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse

from .checkpoint import WEIGHT_FILES, CheckpointError, weight_map
from .hub_http import open_url, redact

HUB_REPOS = {
    "longformer_base_4096": "allenai/longformer-base-4096",
    "longformer_large_4096": "allenai/longformer-large-4096",
    "longformer_large_4096_finetuned_triviaqa": "allenai/longformer-large-4096-finetuned-triviaqa",
    "longformer_qa_base_4096_finetuned_squadv2": "mrm8488/longformer-base-4096-finetuned-squadv2",
    "longformer_base_sequence_classifier_imdb": "ahmed792002/Finetuning_Longformer_IMDb_movie_reviews_Classification",
    "modernbert_base": "answerdotai/ModernBERT-base",
    "modernbert_large": "answerdotai/ModernBERT-large",
    "gte_modernbert_base": "Alibaba-NLP/gte-modernbert-base",
    "modernbert_embed_base": "nomic-ai/modernbert-embed-base",
    "all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2",
    "bge_m3": "BAAI/bge-m3",
}
DEFAULT_ENDPOINT = "https://huggingface.co"
_TOKENIZER = (
    "tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
)
# What sentence-transformers saved beside the model: its modules and their pooling (sentence_transformers.py)
_SENTENCE_TRANSFORMERS = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")
_POOLING_CONFIG = re.compile(r"[0-9]+_Pooling/config\.json")
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A hub file did not arrive intact (hash or size mismatch, cut-off transfer, bad listing)."""


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
        why = redact(str(exc), _token())
        cause = exc if why == str(exc) else DownloadError(why)  # a cause that echoed the token stays unseen
        raise RuntimeError(
            f"pretrained model '{name}' is not in the cache ({folder}) and could not be downloaded from "
            f"{_endpoint()}/{repo} ({why}). Either copy an HF-layout folder of it to {folder} "
            f"(or set SPARKLONG_CACHE to a folder holding {name}_{lang}/), or use "
            f"loadSavedModel(folder, spark) on a local copy."
        ) from cause


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def _download(repo: str, folder: str) -> str:
    listing = _get_json(f"{_endpoint()}/api/models/{repo}/revision/main?blobs=true")
    commit = listing.get("sha")
    files = {s.get("rfilename"): s for s in listing.get("siblings") or []}
    if not commit or "config.json" not in files:
        raise DownloadError(f"the hub's listing of {repo} has no commit or no config.json")
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(folder))
    try:
        fetch = lambda name: _fetch_verified(repo, commit, files[name], staging)  # noqa: E731
        fetch("config.json")
        weights = next((w for w in WEIGHT_FILES if w in files), None)
        if weights is None:
            raise DownloadError(f"{repo} has none of {', '.join(WEIGHT_FILES)}")
        fetch(weights)
        for shard in _shards(os.path.join(staging, weights)) if weights.endswith(".json") else ():
            if shard not in files:
                raise DownloadError(f"{weights} of {repo} names '{shard}', which the repo does not hold")
            fetch(shard)
        for name in _TOKENIZER + _SENTENCE_TRANSFORMERS:
            if name in files:
                fetch(name)
        for name in sorted(n for n in files if isinstance(n, str) and _POOLING_CONFIG.fullmatch(n)):
            fetch(name)
        _install(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _shards(index_path: str) -> list[str]:
    """Shard file names of a weight index; each must be a plain name inside the model folder."""
    try:
        shards = sorted(set(weight_map(index_path).values()))
    except CheckpointError as exc:
        raise DownloadError(str(exc)) from exc
    for shard in shards:
        if os.path.basename(shard) != shard or shard in ("", ".", ".."):
            raise DownloadError(f"shard name {shard!r} in {os.path.basename(index_path)} is not a plain file name")
    return shards


def _install(staging: str, folder: str) -> None:
    """Rename the complete download into place; a folder another process finished first is kept."""
    try:
        os.replace(staging, folder)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise DownloadError(f"{folder} exists but holds no config.json; remove it and retry") from exc


def _request(url: str):
    return open_url(url, _endpoint(), _token())


def _get_json(url: str) -> dict:
    with _request(url) as resp:
        try:
            listing = json.loads(resp.read().decode("utf-8"))
        except (ValueError, http.client.HTTPException) as exc:
            raise DownloadError(f"unreadable listing from {url}: {exc}") from exc
    if not isinstance(listing, dict):
        raise DownloadError(f"unexpected listing from {url}")
    return listing


def _fetch_verified(repo: str, commit: str, sibling: dict, folder: str) -> None:
    """Stream one file into folder, hashing as it arrives; raise DownloadError unless size and hash
    are the hub's (sha256 for LFS files, git blob sha1 for the others)."""
    name, lfs = sibling["rfilename"], sibling.get("lfs") or {}
    size = lfs.get("size", sibling.get("size"))
    expected = lfs.get("sha256") or sibling.get("blobId")
    if not isinstance(size, int) or not isinstance(expected, str):
        raise DownloadError(f"the hub lists no size and hash for {name}; refusing an unverifiable file")
    digest = hashlib.sha256() if lfs else hashlib.sha1(f"blob {size}\0".encode())  # git's blob id
    url = f"{_endpoint()}/{repo}/resolve/{commit}/{urllib.parse.quote(name)}"
    received = 0
    try:
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)  # 1_Pooling/config.json
        with _request(url) as resp, open(os.path.join(folder, name), "wb") as out:
            while chunk := resp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
    except http.client.HTTPException as exc:  # e.g. the connection closed mid-file
        raise DownloadError(f"{name}: transfer cut off after {received} bytes ({exc!r})") from exc
    if received != size:
        raise DownloadError(f"{name}: received {received} bytes, the hub lists {size}")
    if digest.hexdigest() != expected.lower():
        kind = "sha256" if lfs else "git blob sha1"
        raise DownloadError(f"{name}: {kind} {digest.hexdigest()} does not match the hub's {expected}")
