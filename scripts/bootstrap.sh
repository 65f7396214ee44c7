#!/usr/bin/env bash
# One-time set-up of everything uqgan needs on Debian 12: the FEniCSx stack from Debian,
# a venv on the system Python that can see it, and uqgan with its Python dependencies.
# Idempotent: each step checks first and skips what is already done. Called by `make`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
SYS_PY=/usr/bin/python3
# python3-dolfinx: FEniCSx 0.5.2 with PETSc/MPI; python3-h5py: the HDF5 binding that coexists
# with dolfinx (pip's wheel does not); python3-gmsh: meshes with a hole in the submodel zone.
APT_PACKAGES=(python3-dolfinx python3-venv python3-h5py python3-gmsh)

log() { printf '[bootstrap] %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { log "need root (or sudo) to apt-get install ${missing[*]}"; exit 1; }
        SUDO=sudo
    fi
    log "apt-get install ${missing[*]} (about 2 minutes the first time)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages present: ${APT_PACKAGES[*]}"
fi

if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV on $SYS_PY with --system-site-packages (so it sees Debian's dolfinx)"
    $SYS_PY -m venv --system-site-packages "$VENV"
fi

log "pip install -e .[dev,torch,dask] with constraints.txt"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,torch,dask]"

"$VENV/bin/python" - <<'PY'
import dolfinx, h5py, numpy, torch, uqgan
print(f"[bootstrap] ok: uqgan {uqgan.__version__}, dolfinx {dolfinx.__version__}, numpy {numpy.__version__}, "
      f"h5py {h5py.__version__}, torch {torch.__version__}")
PY
