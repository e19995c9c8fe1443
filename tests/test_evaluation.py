"""The evaluation harness on a 50-row slice of each real evaluation set."""

from __future__ import annotations

import math

import orjson
import pytest

from embeddings.alignment import COUNTERPART_MIN_MARGIN
from embeddings.evaluation import (
    COUNTERPART_COLUMN,
    SEED_QUESTIONS,
    evaluate,
    format_table,
    mrr_at,
    ndcg_at,
    recall_at,
)
from embeddings.search import MODES
from tests.test_scripts import script

EXPECTED = {
    "flores": {"kk→ru top1", "ru→kk top1", "en→kk top1", "en→ru top1"},
    "tatoeba": {"kk→ru top1", "ru→kk top1"},
    "xwmt": {"kk→ru top1", "ru→kk top1", "en→kk top1", "en→ru top1"},
    "kazqad": {"recall@10", "MRR@10", "nDCG@10"},
    "headline": {"hit@1", "recall@10"},
    "articles": {"hit@1", "recall@10"},
    "seeds-pool": {"top-3 among articles"},
    "dev": {f"{form} {metric}" for form in ("lead kept", "lead left out") for metric in ("hit@1", "recall@10")},
}
# A working pipeline is far above chance; the dev set's left-out leads are hard by design.
FLOOR = {"dev": 0.2, "articles": 0.3}


def test_metrics_on_a_hand_made_ranking():
    ranked, relevant = ["a", "b", "c", "d"], {"b", "d", "z"}
    assert recall_at(ranked, relevant, 10) == pytest.approx(2 / 3)
    assert recall_at(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert mrr_at(ranked, relevant, 10) == pytest.approx(0.5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert mrr_at(["x"], relevant, 10) == 0.0 and ndcg_at([], relevant, 10) == 0.0


@pytest.mark.eval
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_metric_on_a_50_row_slice(eval_dir, encoder, name):
    [result] = evaluate(eval_dir, encoder, only=[name], limit=50)
    assert set(result.metrics) == EXPECTED[name]
    for metric, per_mode in result.metrics.items():
        assert set(per_mode) == set(MODES)
        for mode in ("dense", "hybrid"):
            assert FLOOR.get(name, 0.5) <= per_mode[mode] <= 1.0, (metric, mode, per_mode)
        assert 0.0 <= per_mode["lexical"] <= 1.0
        assert result.counts[metric] == (len(SEED_QUESTIONS) if name == "seeds-pool" else 50)
    assert result.seconds > 0
    assert name in format_table([result])


@pytest.mark.eval
def test_counterparts_are_found_and_the_threshold_is_the_tuning_sets_choice(eval_dir, encoder):
    devtest, dev = evaluate(eval_dir, encoder, only=["counterparts", "counterparts-dev"], limit=50)
    for result in (devtest, dev):  # on 50 articles a wrong pick is 1 in 25: chance would be far lower
        for direction in ("kk→ru", "ru→kk"):
            assert result.metrics[f"{direction} precision"][COUNTERPART_COLUMN] >= 0.85, result.metrics
            assert result.metrics[f"{direction} recall"][COUNTERPART_COLUMN] >= 0.85, result.metrics
        assert result.counts["kk→ru recall"] == 25  # every other Russian version is left out
    assert "best threshold" in dev.metrics and "best threshold" not in devtest.metrics
    [full_dev] = evaluate(eval_dir, encoder, only=["counterparts-dev"])
    assert full_dev.metrics["best threshold"][COUNTERPART_COLUMN] == COUNTERPART_MIN_MARGIN


@pytest.mark.eval
def test_script_prints_a_table_and_writes_json(eval_dir, tmp_path):
    out = tmp_path / "report.json"
    done = script("evaluate.py", "--data", str(eval_dir), "--only", "tatoeba", "--limit", "20", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "kk→ru top1" in done.stdout and "tatoeba" in done.stdout and "hybrid" in done.stdout
    report = orjson.loads(out.read_bytes())
    assert report["limit"] == 20 and report["sets"][0]["name"] == "tatoeba"
    assert set(report["sets"][0]["metrics"]) == EXPECTED["tatoeba"] and report["sets"][0]["seconds"] > 0


def test_script_fails_clearly_on_missing_data(tmp_path):
    assert script("evaluate.py", "--help").returncode == 0
    missing = script("evaluate.py", "--data", str(tmp_path / "nope"), "--limit", "5")
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    partial = script("evaluate.py", "--data", str(tmp_path / "empty"), "--only", "kazqad")
    assert partial.returncode == 2 and "kazqad_val.queries.jsonl: missing" in partial.stderr
    unknown = script("evaluate.py", "--only", "nope")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
