"""The command-line scripts, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.conftest import ROOT


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize("name", ["prepare_model.py", "build_index.py", "search.py", "batch_query.py"])
def test_every_script_explains_itself(name):
    done = script(name, "--help")
    assert done.returncode == 0 and "usage:" in done.stdout


def test_bad_corpora_fail_with_one_clear_line(tmp_path):
    missing = script("build_index.py", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "i"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = script("build_index.py", "--corpus", str(tmp_path / "empty"), "--index", str(tmp_path / "i"))
    assert empty.returncode == 2 and "no .txt, .html, .htm, .rss, .atom or .xml files" in empty.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('not json\n{"id": "x"}\n', encoding="utf-8")
    nothing = script("build_index.py", "--corpus", str(bad), "--index", str(tmp_path / "i"))
    assert nothing.returncode == 2 and "nothing to index" in nothing.stderr
    assert "bad.jsonl:1" in nothing.stderr and "bad.jsonl:2" in nothing.stderr
    assert "Traceback" not in nothing.stderr
    assert not (tmp_path / "i" / "CURRENT").exists()


def test_build_search_and_batch_query_on_a_partly_bad_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in sorted((ROOT / "seeds").glob("*.txt"))[:2]:
        (corpus / seed.name).write_bytes(seed.read_bytes())
    (corpus / "latin1.txt").write_bytes("Привет, мир".encode("cp1251"))
    index = tmp_path / "index"
    built = script("build_index.py", "--corpus", str(corpus), "--index", str(index))
    assert built.returncode == 0, built.stderr
    assert "indexed 2 documents" in built.stdout and "1 item(s) skipped" in built.stdout
    assert "latin1.txt" in built.stderr and "UTF-8" in built.stderr

    again = script("build_index.py", "--corpus", str(corpus), "--index", str(index), "--if-missing")
    assert again.returncode == 0 and "not rebuilt" in again.stdout

    found = script("search.py", "--index", str(index), "--json", "--k", "3", "Рустами Эмомали в Астане")
    assert found.returncode == 0, found.stderr
    response = orjson.loads(found.stdout)
    assert response["results"][0]["doc_id"] == "001_fdb75db5e4a0ae0c"
    table = script("search.py", "--index", str(index), "Lukashenko")
    assert table.returncode == 0 and "1." in table.stdout and "000_51035c6eea1197a6" in table.stdout

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"id": "q1", "query": "Lukashenko"}\n'
        "{broken\n"
        '{"id": "q2", "query": "Рустами Эмомали", "lang": ["kk"]}\n'
        '{"id": "q3", "query": ""}\n',
        encoding="utf-8",
    )
    out = tmp_path / "results.jsonl"
    answered = script("batch_query.py", "--index", str(index), "--in", str(queries), "--out", str(out), "--k", "4")
    assert answered.returncode == 0, answered.stderr
    assert "2 line(s) skipped" in answered.stdout
    assert "queries.jsonl:2" in answered.stderr and "queries.jsonl:4" in answered.stderr
    rows = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"]
    assert len(rows[0]["results"]) == 4 and set(rows[0]["results"][0]) == {
        "rank",
        "score",
        "passage_id",
        "doc_id",
        "lang",
    }
    assert {r["lang"] for r in rows[1]["results"]} == {"kk"}

    # News options: the Minsk article (000) is dated 2026-02-06, the Tajik one (001) is undated.
    grouped = script("search.py", "--index", str(index), "--json", "--group", "article", "--k", "5", "Lukashenko")
    assert grouped.returncode == 0, grouped.stderr
    articles = orjson.loads(grouped.stdout)["results"]
    assert sorted(r["doc_id"] for r in articles) == ["000_51035c6eea1197a6", "001_fdb75db5e4a0ae0c"]
    assert all(len(r["more"]) == 2 and r["counterparts"] == [] for r in articles)
    dated = script("search.py", "--index", str(index), "--json", "--date-from", "2026-02-01", "Рустами Эмомали")
    assert {r["doc_id"] for r in orjson.loads(dated.stdout)["results"]} == {"000_51035c6eea1197a6"}
    bad = script("search.py", "--index", str(index), "--date-from", "2026-02-31", "Рустами Эмомали")
    assert bad.returncode == 2 and "--date-from must be a date" in bad.stderr and "Traceback" not in bad.stderr
    answered = script(
        "batch_query.py", "--index", str(index), "--in", str(queries), "--out", str(out), "--date-to", "2026-12-31"
    )
    assert answered.returncode == 0, answered.stderr
    rows = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert {r["doc_id"] for row in rows for r in row["results"]} == {"000_51035c6eea1197a6"}


def test_search_on_a_missing_index_says_so(tmp_path):
    done = script("search.py", "--index", str(tmp_path / "none"), "anything")
    assert done.returncode == 2 and "no index here" in done.stderr and "Traceback" not in done.stderr
