#!/usr/bin/env bash
# Installs and starts what the tests need, then runs every test. CI runs exactly this.
#
# Today the tests need nothing beyond the Rust toolchain: every service they talk to
# (Kafka, QuestDB, a model server) arrives with the issue that adds its connector, and is
# installed and started here, on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== format"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests (unit, property, doc, end-to-end)"
cargo test --workspace --locked
