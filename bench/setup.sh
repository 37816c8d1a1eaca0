#!/usr/bin/env bash
# Installs pythae 0.1.2 for column (c) of bench/throughput.py and the pythae rows of bench/metrics.py, into
# .bench-site/ (git-ignored). It is never a dependency of the package or of CI: only the benchmark scripts
# put that folder on their path, and only in the processes that run pythae.
#
#   bash bench/setup.sh [python]      # default: .venv/bin/python, else python3
#
# --no-deps: pythae's requirements that the project already has (torch, numpy, scipy, scikit-learn, pydantic
# 2, tqdm, cloudpickle, typing-extensions) come from the environment; imageio is added. Its `dataclasses`
# requirement is the Python 3.6 backport, which would shadow the standard library from PYTHONPATH: not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
"$PYTHON" -m pip install --quiet --upgrade --no-deps --target .bench-site "pythae==0.1.2" imageio
PYTHONPATH=.bench-site "$PYTHON" -c "import pythae; from pythae.models import VAE, INFOVAE_MMD, Adversarial_AE; print('pythae installed in .bench-site')"
