"""Shared fixtures: the real default model, an index of the seeds, the app in-process, a real server process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embeddings.corpus import parse_seed_text, read_corpus
from embeddings.encoders import Encoder, load_encoder
from embeddings.index import build
from embeddings.search import Searcher
from service.process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EVAL_DIR = ROOT.parent / "shared" / "eval"
# Seed 000 (Koshanov's visit to Minsk, in Kazakh) and our own Russian report of the same story
# (tests/assets/README.md): the seeds hold no Russian version of a Kazakh article.
MINSK_KK = "000_51035c6eea1197a6"
MINSK_RU = parse_seed_text("minsk-visit-ru", (ROOT / "tests" / "assets" / "minsk_visit_ru.txt").read_text("utf-8"))
MINSK_RU_BODY = {"id": MINSK_RU.id, "title": MINSK_RU.title, "date": MINSK_RU.date, "text": MINSK_RU.text}

_CITIES = ("Астана", "Алматы", "Шымкент", "Қарағанды", "Ақтөбе", "Павлодар", "Атырау", "Семей")
_PROJECTS = ("жаңа аурухана", "жол құрылысы", "мектеп жөндеуі", "су құбыры", "спорт кешені")


def news_documents(n: int, prefix: str = "news") -> list[dict]:
    """``n`` news-sized documents to post (a seed article each, 5-10 kB, under a first paragraph of
    its own), as ``POST /v1/documents/batch`` takes them."""
    seeds = [parse_seed_text(path.stem, path.read_text("utf-8")) for path in sorted(SEEDS.glob("*.txt"))]
    documents = []
    for i in range(n):
        seed = seeds[i % len(seeds)]
        city, project = _CITIES[i % len(_CITIES)], _PROJECTS[(i // len(_CITIES)) % len(_PROJECTS)]
        lead = (
            f"{city} қаласында {project} жобасы бойынша {i + 1}-ші қоғамдық тыңдау өтті. "
            f"Тұрғындар {project} жобасының мерзімі мен құнын әкімдік өкілдерімен талқылады."
        )
        documents.append({"id": f"{prefix}-{i:04d}", "date": seed.date, "text": lead + "\n" + seed.text})
    return documents


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The default backend, as the service runs it."""
    return load_encoder()


@pytest.fixture(scope="session")
def float32_encoder() -> Encoder:
    """The float32 torch model the int8 backends are made from and measured against."""
    return load_encoder(None, "torch")


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, encoder) -> Path:
    """An index of the five seed articles, built once; tests that write use a copy."""
    path = tmp_path_factory.mktemp("seed-index") / "index"
    build(read_corpus(SEEDS), path, encoder)
    return path


@pytest.fixture(scope="session")
def searcher(seed_index_dir, encoder) -> Searcher:
    return Searcher.open(seed_index_dir, encoder)


@pytest.fixture(scope="session")
def app(searcher):
    """The app in-process over the seed index (Flask's test client): for request validation and
    answer shapes, which need no process. Workers, auth, limits and kill -9 use ``live_server``."""
    from service import create_app

    return create_app(searcher=searcher)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def index_copy(seed_index_dir, tmp_path) -> Path:
    """A private copy of the seed index, for tests that change it."""
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def live_server(seed_index_dir, tmp_path_factory):
    """A real gunicorn server over a copy of the seed index, shared by read-only tests."""
    index_dir = tmp_path_factory.mktemp("live") / "index"
    shutil.copytree(seed_index_dir, index_dir, symlinks=True)
    server = ServerProcess(index_dir, index_dir.parent / "server.log", RETRIEVAL_API_KEY="").wait_ready()
    yield server
    server.stop()


WRITE_KEY = "test-write-key-5f2c"
WRITE_AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}


@pytest.fixture(scope="module")
def writable_server(seed_index_dir, tmp_path_factory):
    """A real gunicorn server that takes writes (the key WRITE_KEY, 2 workers) over its own copy
    of the seed index: one per test module, so a module's writes stay in it."""
    index_dir = tmp_path_factory.mktemp("writable") / "index"
    shutil.copytree(seed_index_dir, index_dir, symlinks=True)
    server = ServerProcess(index_dir, index_dir.parent / "server.log", RETRIEVAL_API_KEY=WRITE_KEY, WORKERS="2")
    yield server.wait_ready()
    server.stop()


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not EVAL_DIR.is_dir():
        pytest.skip(f"evaluation data not found at {EVAL_DIR}")
    return EVAL_DIR
