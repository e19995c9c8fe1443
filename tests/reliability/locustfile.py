"""Locust users for tests/reliability/test_load.py: mixed reads, and a trickle of authorised writes.

Run by the test as ``locust --headless`` against a server on 127.0.0.1; settings come from the
environment the test sets (LOAD_API_KEY, LOAD_WRITES_LOG). Every write the server acknowledges
(201) is appended to LOAD_WRITES_LOG, so the test can check afterwards that each one is visible.
"""

from __future__ import annotations

import os
import random
import uuid

from locust import HttpUser, constant, task

QUERIES = [
    "Lukashenko trade with Kazakhstan",
    "Рустами Эмомали",
    "Қошанов Минскіде кездесті",
    "парламентское сотрудничество",
    "Мәжіліс төрағасы",
    "London",
    "экономическое сотрудничество Казахстана и Беларуси",
]
PASSAGES = ["000_51035c6eea1197a6:0", "001_fdb75db5e4a0ae0c:0", "003_50027884f20b3e6f:6", "003_50027884f20b3e6f:5"]
DOCUMENTS = ["000_51035c6eea1197a6", "001_fdb75db5e4a0ae0c", "002_6b6f623981be19cf", "003_50027884f20b3e6f"]


class Reader(HttpUser):
    """A client that reads as fast as it is answered: searches, related passages, documents."""

    weight = 10
    wait_time = constant(0)

    @task(5)
    def search_get(self) -> None:
        params = {"q": random.choice(QUERIES), "k": random.randint(1, 20)}
        self.client.get("/v1/search", params=params, name="GET /v1/search")

    @task(2)
    def search_post(self) -> None:
        body = {"query": random.choice(QUERIES), "k": 5, "lang": random.choice([["kk"], ["ru"], ["kk", "ru"]])}
        self.client.post("/v1/search", json=body, name="POST /v1/search")

    @task(2)
    def related(self) -> None:
        self.client.get(
            f"/v1/passages/{random.choice(PASSAGES)}/related", params={"k": 5}, name="GET /v1/passages/<id>/related"
        )

    @task(1)
    def list_documents(self) -> None:
        self.client.get("/v1/documents", params={"limit": 10}, name="GET /v1/documents")

    @task(1)
    def document(self) -> None:
        self.client.get(f"/v1/documents/{random.choice(DOCUMENTS)}", name="GET /v1/documents/<id>")


class Writer(HttpUser):
    """One client adding a new document about once a second while the readers run."""

    fixed_count = 1
    wait_time = constant(1)

    @task
    def write(self) -> None:
        doc_id = "load-" + uuid.uuid4().hex[:16]
        text = (
            f"Документ нагрузочной проверки {doc_id}.\n"
            "В Астане прошло заседание правительства, посвящённое развитию транспорта и торговли с соседями."
        )
        response = self.client.post(
            "/v1/documents",
            json={"id": doc_id, "title": f"Проверка {doc_id}", "date": "2026-01-01", "text": text},
            headers={"Authorization": f"Bearer {os.environ['LOAD_API_KEY']}"},
            name="POST /v1/documents",
        )
        if response.status_code == 201:
            with open(os.environ["LOAD_WRITES_LOG"], "a", encoding="utf-8") as log:
                log.write(doc_id + "\n")
