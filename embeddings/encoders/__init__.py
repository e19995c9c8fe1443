"""Encoder backends: the one list of them and the one factory.

Every backend is a module beside this one that imports only :mod:`embeddings.encoders.base` and
defines ``DEFAULT_DIR`` (the folder it loads by default), ``is_complete(folder)`` and an encoder
class satisfying :class:`~embeddings.encoders.base.Encoder`. Adding a backend is one new file
and one line in :data:`BACKENDS`. Modules are imported only when asked for, so serving with one
backend never imports another's runtime.
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from types import ModuleType

from embeddings.encoders.base import DEFAULT_MODEL_DIR, Encoder, ModelError, ModelIdentity, shared_tokenizer

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_MODEL_DIR",
    "ENGINES",
    "Encoder",
    "ModelError",
    "ModelIdentity",
    "backend_module",
    "load_bulk_encoder",
    "load_encoder",
    "preload_tokenizer",
    "prepared_backends",
]

# backend name -> "module:class"
BACKENDS = {
    "torch": "embeddings.encoders.torch:TorchEncoder",
    "onnx-int8": "embeddings.encoders.onnx:OnnxEncoder",
    "openvino-int8": "embeddings.encoders.openvino:OpenVinoEncoder",
}
# The fastest backend within the quality bounds (README, "Settings"); torch is the float32 reference.
DEFAULT_BACKEND = "openvino-int8"
ENGINES = ("local", "ray")


def backend_module(backend: str) -> ModuleType:
    if backend not in BACKENDS:
        raise ModelError(f"unknown EMBEDDING_BACKEND {backend!r}; choose from {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[backend].partition(":")[0])


def prepared_backends() -> list[str]:
    """The backends whose default model folder is made (by ``make setup``)."""
    return [name for name in BACKENDS if backend_module(name).is_complete(backend_module(name).DEFAULT_DIR)]


def _load_local(model: str | None, backend: str, threads: int | None = None) -> Encoder:
    module_name, _, class_name = BACKENDS[backend].partition(":")
    return getattr(importlib.import_module(module_name), class_name)(model, threads=threads)


def load_encoder(
    model: str | os.PathLike | None = None,
    backend: str | None = None,
    *,
    threads: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> Encoder:
    """The encoder the settings ask for.

    ``model`` is a model folder (or hub name) for ``torch``, a prepared int8 folder for the int8
    backends; None is the backend's default folder. ``engine="ray"`` runs the same backend's
    encoding on Ray actors (a local instance, or the cluster at ``ray_address``).
    """
    backend = backend or DEFAULT_BACKEND
    backend_module(backend)  # an unknown backend fails here, with the list
    if engine == "local":
        if ray_address:
            raise ModelError("--ray-address needs --engine ray")
        return _load_local(model, backend, threads)
    if engine == "ray":
        from embeddings.encoders.ray import RayEncoder

        # Actors load the model by path: make a relative folder absolute for workers elsewhere.
        if model is not None and Path(model).is_dir():
            model = str(Path(model).resolve())
        return RayEncoder(functools.partial(_load_local, model, backend), address=ray_address)
    raise ModelError(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}")


def preload_tokenizer(model: str | os.PathLike | None = None, backend: str | None = None) -> None:
    """Load the tokenizer an int8 backend's encoders will use into this process (see
    :func:`embeddings.encoders.base.shared_tokenizer`); torch's comes with its model."""
    backend = backend or DEFAULT_BACKEND
    if backend == "torch":
        return
    folder = Path(model or backend_module(backend).DEFAULT_DIR)
    if (folder / "tokenizer.json").is_file():
        shared_tokenizer(folder)


def load_bulk_encoder(
    interactive: Encoder, model: str | os.PathLike | None = None, backend: str | None = None
) -> Encoder:
    """The encoder for bulk work beside ``interactive`` (the same model and backend): its own
    instance on half the cores where the backend's threads are the instance's, else
    ``interactive`` itself (torch, whose threads are the process's; Ray)."""
    if not interactive.own_threads:
        return interactive
    from embeddings.runtime import bulk_threads

    return load_encoder(model, backend, threads=bulk_threads())
