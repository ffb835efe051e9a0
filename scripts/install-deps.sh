#!/usr/bin/env bash
# Installs every Debian package keel needs. Idempotent: does nothing (and needs no network) when
# all packages are already present. Run as root (or with sudo available).
set -euo pipefail

PKGS=(
  # build tools
  build-essential cmake ninja-build pkg-config git clang-format clang-tidy
  # core
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgoogle-perftools-dev libgtest-dev libgmock-dev libbenchmark-dev
  # power
  libfftw3-dev
  # train / mcnn / nmt
  libtorch-dev libprotobuf-dev libopenblas0-openmp libdnnl-dev libopenmpi-dev openmpi-bin
  libsentencepiece-dev sentencepiece libtiff-dev zlib1g-dev
  # mcnn multi-node test: two network namespaces joined by a veth pair (ip netns)
  iproute2
  # nmt serve: HTTP server and client; curl for its tests
  libcpp-httplib-dev curl
  # nmt import: PyTorch checkpoints are zip archives
  libzip-dev
  # nmt BLEU (Unicode categories and lowercasing)
  libicu-dev
  # nmt import tests: fixtures in PyTorch's and Hugging Face's layouts, written and checked by a
  # reference forward in Debian's PyTorch (/usr/bin/python3; never used by the product)
  python3-torch
  # nmt corpus: English text (fortunes, WordNet), Apertium English->Spanish, Ding German-English
  apertium apertium-eng-spa fortunes wordnet-base trans-de-en
  # HTML reports: headless browser for their tests and screenshots
  chromium
  # install and package: man pages from --help, the .deb (CPack uses file and dpkg-shlibdeps),
  # and its check
  help2man file dpkg-dev lintian
  # make fuzz: libFuzzer harnesses (tests/fuzz)
  clang-14 libfuzzer-14-dev
)
# The build embeds uPlot from npm (web/). Any Node.js with npm will do; Debian's only when none
# is installed (a Node.js from elsewhere usually bundles npm and conflicts with Debian's).
if ! command -v npm >/dev/null 2>&1; then PKGS+=(nodejs npm); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
