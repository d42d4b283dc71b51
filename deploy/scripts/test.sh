#!/usr/bin/env bash
# Installs and starts what the tests need, then runs every test. CI runs exactly this.
#
# Besides the Rust toolchain, the tests need the reference implementations the golden files
# come from (PyPI, into a virtualenv under target/). Every service the tests talk to (Kafka,
# QuestDB, a model server) arrives with the issue that adds its connector, and is installed and
# started here, on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== reference packages (TA-Lib, empyrical)"
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/golden/requirements.txt

echo "== golden files reproduce from their script"
golden=$(mktemp -d)
trap 'rm -rf "$golden"' EXIT
"$venv/bin/python" tests/golden/generate_talib.py "$golden/talib"
diff -r -q "$golden/talib" tests/golden/talib
"$venv/bin/python" tests/golden/generate_perf.py "$golden/perf"
diff -r -q "$golden/perf" tests/golden/perf

echo "== format"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests (unit, property, doc, end-to-end)"
cargo test --workspace --locked
