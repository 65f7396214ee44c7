#!/usr/bin/env bash
# One-time set-up of everything uqgan needs on Debian 12: the FEniCSx stack from Debian,
# a venv on the system Python that can see it, and uqgan with its Python dependencies.
# Idempotent: each step checks first and skips what is already done. Called by `make`.
#
# Each step prints what it does, how long it took on the reference machine (2 cores, Debian 12,
# measured from a clean state; docs/install.md has the table), and how long it took here, so a
# user waiting knows it is not hung. The times also go to $VENV/bootstrap-times.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
SYS_PY=/usr/bin/python3
# python3-dolfinx: FEniCSx 0.5.2 with PETSc/MPI; python3-h5py: the HDF5 binding that coexists
# with dolfinx (pip's wheel does not); python3-gmsh: meshes with a hole in the submodel zone.
APT_PACKAGES=(python3-dolfinx python3-venv python3-h5py python3-gmsh)
# uv installs the same pins as pip 2.5x faster (docs/install.md); pinned so every machine gets the
# same installer. BOOTSTRAP_INSTALLER=pip forces pip.
UV_VERSION=0.13.9
INSTALLER=${BOOTSTRAP_INSTALLER:-uv}
EXTRAS="dev,torch,dask"

log() { printf '[bootstrap] %s\n' "$*"; }
TIMES=()
# step N "what" "expected duration": announce a step; done_step records its wall time
step() { STEP_T0=$(date +%s); STEP_NAME="$2"; log "step $1/4: $2 (reference machine: $3) ..."; }
done_step() {
    local dt=$(( $(date +%s) - STEP_T0 ))
    log "        done in ${dt} s"
    TIMES+=("$(printf '%-40s %5d s' "$STEP_NAME" "$dt")")
}

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
    step 1 "apt-get install ${missing[*]}" "46 s for ~250 packages, 190 MB"
    $SUDO apt-get update -qq
    # unsafe-io: no fsync per unpacked file (a failed install is simply rerun); many images set it in
    # /etc/dpkg/dpkg.cfg.d already, this makes it hold on those that do not
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-unsafe-io "${missing[@]}" >/dev/null
    done_step
else
    log "step 1/4: Debian packages present: ${APT_PACKAGES[*]}"
fi

if [[ ! -x $VENV/bin/python ]]; then
    step 2 "venv $VENV on $SYS_PY (--system-site-packages, so it sees Debian's dolfinx)" "2 s"
    $SYS_PY -m venv --system-site-packages "$VENV"
    done_step
else
    log "step 2/4: $VENV exists"
fi

# the find-links directories pip is configured with (the CPU torch wheel lies in one of them on this
# kind of machine): uv reads no pip configuration, so it is given the same ones
find_links=()
while IFS= read -r dir; do
    [[ -d $dir ]] && find_links+=(--find-links "$dir")
done < <("$VENV/bin/python" -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" | tr ' ' '\n')

if [[ $INSTALLER == uv ]]; then
    step 3 "uv pip install -e .[$EXTRAS] under constraints.txt" "1 + 21 s with uv $UV_VERSION; pip 23: 52 s"
    if [[ -x $VENV/bin/uv ]] || "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"; then
        # --compile-bytecode: the environment may set PYTHONDONTWRITEBYTECODE, so .pyc files written now
        # are the only ones there will be; without them every import of torch recompiles it
        "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -c constraints.txt "${find_links[@]}" \
            --compile-bytecode -e ".[$EXTRAS]"
    else
        log "uv could not be installed: falling back to pip"
        INSTALLER=pip
    fi
fi
if [[ $INSTALLER == pip ]]; then
    step 3 "pip install -e .[$EXTRAS] under constraints.txt" "52 s with Debian's pip 23"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$EXTRAS]"
fi
done_step

step 4 "import check (dolfinx, h5py, numpy, torch, uqgan)" "2 s"
"$VENV/bin/python" - <<'PY'
import dolfinx, h5py, numpy, scipy, torch, uqgan
print(f"[bootstrap] ok: uqgan {uqgan.__version__}, dolfinx {dolfinx.__version__}, numpy {numpy.__version__}, "
      f"scipy {scipy.__version__}, h5py {h5py.__version__}, torch {torch.__version__}")
PY
done_step

{
    echo "# uqgan bootstrap, $(date -u +%FT%TZ), $(nproc) cores, installer $INSTALLER"
    printf '%s\n' "${TIMES[@]}"
} > "$VENV/bootstrap-times.txt"
log "step times in $VENV/bootstrap-times.txt"
