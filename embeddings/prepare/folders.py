"""What the recipes share: folders written in one step, file hashes, the is-prepared check."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embeddings.encoders.base import TOKENIZER_FILES, ModelError


@contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` that replaces it when the block ends without error and
    is removed otherwise: every model folder is made through it, so an interrupted run never
    leaves one that looks complete."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_fingerprint(source_dir: Path) -> str:
    """A hash of the files an int8 recipe reads: a changed source folder means a stale export."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", *TOKENIZER_FILES):
        path = Path(source_dir) / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def made_from(out_dir: Path, info_name: str, source_dir: Path) -> bool:
    """The export record in ``out_dir`` names ``source_dir``'s current files as its source."""
    try:
        info = json.loads((Path(out_dir) / info_name).read_text())
    except (OSError, ValueError):
        return False
    return info.get("source_fingerprint") == source_fingerprint(source_dir)


def require_source(source_dir: Path) -> None:
    if not (Path(source_dir) / "model.safetensors").is_file():
        raise ModelError(f"no model at {source_dir}; run `make setup` or `python scripts/prepare_model.py` first")


def copy_tokenizer_files(source_dir: Path, out_dir: Path) -> None:
    for name in TOKENIZER_FILES:
        shutil.copyfile(Path(source_dir) / name, Path(out_dir) / name)


def write_export_info(out_dir: Path, info_name: str, info: dict) -> None:
    (Path(out_dir) / info_name).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
