"""What the recipes share: folders written in one step, file hashes, the is-prepared check, the export record.

A recipe's backend module (``embeddings.encoders.onnx``, ``.openvino``) names its folder's parts:
``DEFAULT_DIR``, ``EXPORT_INFO``, ``RECIPE_VERSION`` and ``is_complete``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from embeddings.encoders.base import DEFAULT_MODEL_DIR, TOKENIZER_FILES, ModelError


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


Progress = Callable[[str], None]  # told the name of each step as it starts


@dataclass(frozen=True)
class Recipe:
    """How one backend's model folder is made from a sentence-transformers folder.

    ``make(source_dir, folder, progress)`` writes the model files into the staged ``folder`` and
    returns the recipe's own fields of the export record; the rest (is it already made, staging,
    tokenizer files, the record's source fields) is the same for every recipe and is here.
    """

    backend: ModuleType
    make: Callable[[Path, Path, Progress], dict]

    def export(
        self,
        source_dir: Path | None = None,
        out_dir: Path | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> bool:
        """Write the folder (default: the backend's, from the float32 model); False if it is already
        complete and made by the current recipe from the source as it is now. Written beside its
        destination and renamed into place: an interrupted run never leaves a folder that looks complete."""
        source = Path(source_dir or DEFAULT_MODEL_DIR)
        out = Path(out_dir or self.backend.DEFAULT_DIR)
        require_source(source)
        if not force and self.backend.is_complete(out) and made_from(out, self.backend.EXPORT_INFO, source):
            return False
        with staged_folder(out) as folder:
            info = self.make(source, folder, progress or (lambda step: None))
            for name in TOKENIZER_FILES:
                shutil.copyfile(source / name, folder / name)
            record = {
                "recipe_version": self.backend.RECIPE_VERSION,
                "source": source.name,
                "source_fingerprint": source_fingerprint(source),
            } | info
            (folder / self.backend.EXPORT_INFO).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        return True
