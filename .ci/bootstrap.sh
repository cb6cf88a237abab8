#!/usr/bin/env bash
# Create or refresh the project's virtual environment: .ci/bootstrap.sh PYTHON VENV
# Recreates the venv when PYTHON is another version; reinstalls when requirements change.
set -euo pipefail
python=${1:-python3.11}
venv=${2:-.venv}

if ! want=$("$python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null); then
  echo "error: cannot run '$python'. Install Python 3.10-3.13 or choose one, e.g." >&2
  echo "       PYTHON=/path/to/python3.12 make test" >&2
  exit 1
fi
if [ -x "$venv/bin/python" ]; then
  have=$("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo broken)
  if [ "$have" != "$want" ]; then
    echo "==> $venv has Python $have, $python is $want: recreating $venv"
    rm -rf "$venv"
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv with $python ($want)"
  "$python" -m venv "$venv"
fi
stamp="$venv/.installed"
digest=$(cat requirements.txt pyproject.toml | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "==> installing requirements.txt into $venv (first time: a few minutes)"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt
  "$venv/bin/python" -m pip install --disable-pip-version-check -q --no-deps -e .
  echo "$digest" > "$stamp"
fi
