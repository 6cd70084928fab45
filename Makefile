# ATEDA: the two commands of the README quickstart, plus the benchmark.
.PHONY: demo test bench build

build:
	cargo build --release -p ateda-cli

demo: build
	scripts/demo.sh

test:
	tests/run.sh

bench: build
	scripts/bench.sh
