#!/usr/bin/env bash
# Create .venv and install every Tollgate package (editable, with test extras). Safe to re-run:
# it reinstalls only when a pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
PACKAGES=(common gateway cdr-service rating-service balance-service notify-service simulators)
STAMP=.venv/.tollgate-installed

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi

wanted=$(cat pyproject.toml "${PACKAGES[@]/%//pyproject.toml}" | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  exit 0
fi

echo "==> installing Tollgate packages into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
args=()
for package in "${PACKAGES[@]}"; do
  args+=(-e "${package}[test]")
done
# compat mode puts each package folder on sys.path, so `gateway/` (the folder) never shadows
# `gateway` (the package) when a command runs from the repository root.
.venv/bin/python -m pip install --quiet --config-settings editable_mode=compat "${args[@]}" honcho ruff
echo "$wanted" > "$STAMP"
