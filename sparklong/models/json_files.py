"""The one reader of a model folder's JSON files (config, weight index, tokenizer files, ONNX manifest):
anything but a readable JSON object is an error naming the file, never a raw JSONDecodeError; and the
writer of the ones convert_to_long makes."""
from __future__ import annotations

import json
import os

_EXPECTED = {dict: "a JSON object", list: "a JSON array"}
_KINDS = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def read_json_object(path: str, error: type[Exception] = ValueError, required: bool = False) -> dict | None:
    """The JSON object in `path`; None when the file is absent (FileNotFoundError if `required`).
    Invalid JSON, bad UTF-8, nesting too deep to parse or a non-object raise `error` naming the file."""
    return read_json(path, dict, error, required)


def read_json(path: str, kind: type = dict, error: type[Exception] = ValueError, required: bool = False):
    """The JSON value of type `kind` (dict or list) in `path`, as read_json_object reads an object."""
    if not os.path.isfile(path):
        if required:
            raise FileNotFoundError(f"{path} does not exist; expected a Hugging Face model folder")
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise error(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, kind):
        raise error(f"{path} must hold {_EXPECTED[kind]}, not {_KINDS.get(type(data), 'null')}")
    return data


def write_json(path: str, data) -> None:
    """`data` as indented UTF-8 JSON with a final newline."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
