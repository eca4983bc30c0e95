#!/usr/bin/env bash
# Installs, from registry packages, every toolchain the tests build plugins with:
#   Rust's wasm32-wasip2 target        (the Rust examples and fixtures)
#   clang 19, lld, wasi-libc (Debian)  (the C examples)
#   componentize-js 0.23 (npm)         (the JavaScript examples)
#   componentize-py 0.25.1 (PyPI)      (the Python examples)
# Safe to run again. Needs root or sudo for the Debian packages.
set -euo pipefail

rustup target add wasm32-wasip2

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! command -v clang-19 >/dev/null || [ ! -e /usr/lib/wasm32-wasi/libc.a ]; then
    $sudo apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
fi

if ! componentize-js --version 2>/dev/null | grep -q '^0\.23\.'; then
    $sudo npm install -g --no-audit --no-fund @bytecodealliance/componentize-js@0.23.0
fi

if ! componentize-py --version 2>/dev/null | grep -q '0\.25\.1'; then
    python3 -m pip install --quiet componentize-py==0.25.1
fi
