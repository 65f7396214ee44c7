"""Full-model campaigns: a seeded design through the full model, one shard per sample.

Durable by construction: every sample's inputs depend only on (seed, sample id) — the design point
from the seeded design, the material field from its own random stream — so a campaign can be
killed at any point and rerun, extended with more samples, or spread over any number of workers,
and the dataset comes out the same bit for bit. Each finished sample is written to its own shard
under a temporary name and renamed (atomic); a failed sample is recorded with its reason in
``failures/`` and retried by the next run.

Executors: in-process (``workers=1``), a local process pool (``workers=K``), or a Dask distributed
cluster (``scheduler="tcp://host:8786"``, e.g. started by dask-jobqueue on Slurm; docs/cluster.md).
Workers return arrays; only the calling process writes files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..config import CaseConfig, case_from_toml, case_to_toml
from ..physics.inclusions import plate_inclusions
from ..physics.random_fields import youngs_modulus_field
from .dataset import list_shards, sample_dataset, write_shard
from .io import write_atomic

__all__ = ["CampaignError", "CampaignReport", "campaign_plan", "full_model_seconds", "material_field_basis",
           "run_campaign"]

logger = logging.getLogger(__name__)
#: per-sample records go to the campaign's log file only (not to the console)
_file_log = logging.getLogger("uqgan.data.campaign.logfile")
_file_log.propagate = False
_file_log.setLevel(logging.INFO)

MANIFEST = "manifest.json"
FAILURES = "failures"
FIELDS = "fields"
LOG_FILE = "campaign.log"


class CampaignError(ValueError):
    """A campaign cannot run as asked (another case or seed in the directory, say)."""


@dataclass
class CampaignReport:
    """What a run of :func:`run_campaign` did."""

    directory: Path
    n_samples: int
    n_done_before: int
    n_computed: int
    failures: dict[int, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    n_modes: int = 0

    @property
    def n_complete(self) -> int:
        return self.n_done_before + self.n_computed

    def summary(self) -> str:
        line = (f"{self.directory}: {self.n_complete}/{self.n_samples} samples complete "
                f"({self.n_computed} computed now in {self.elapsed_s:.1f} s)")
        if self.failures:
            ids = ", ".join(str(s) for s in list(self.failures)[:10])
            line += f"; {len(self.failures)} failed (samples {ids}{', ...' if len(self.failures) > 10 else ''}: "
            line += f"see {FAILURES}/; rerun to retry)"
        return line


# ------------------------------------------------------------------------------------------------
# provenance


def git_sha() -> str:
    """Commit of the uqgan source tree, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ------------------------------------------------------------------------------------------------
# the plan: design, material field basis, manifest


def _kl_basis(case: CaseConfig):
    rf = case.random_field
    if rf.coefficient_of_variation == 0:
        return None
    from ..physics.random_fields import kl_basis, kl_basis_box

    if case.geometry.is_mesh_file:  # a mesh file: the KL basis lives on its bounding box (no FEM needed)
        from ..fem._mesh import read_tagged_mesh

        points = read_tagged_mesh(case.geometry.mesh, dimension=case.geometry.dimension).points
        return kl_basis_box(lower_m=points.min(axis=0), upper_m=points.max(axis=0), kernel=rf.kernel,
                            correlation_length_m=rf.correlation_length_m, matern_nu=rf.matern_nu,
                            energy_fraction=rf.energy_fraction, max_modes=rf.max_modes)
    return kl_basis(length_m=case.geometry.length_m, height_m=case.geometry.height_m, kernel=rf.kernel,
                    correlation_length_m=rf.correlation_length_m, matern_nu=rf.matern_nu,
                    energy_fraction=rf.energy_fraction, max_modes=rf.max_modes)


def material_field_basis(case: CaseConfig, model) -> np.ndarray | None:
    """The case's KL basis at a full model's cell midpoints, ``(n_cells, n_modes)`` (``√λ_k φ_k``),
    or None when the case has no random field; with :func:`uqgan.physics.random_fields.youngs_modulus_field` it gives a
    sample's material from its ``xi``."""
    basis = _kl_basis(case)
    return None if basis is None else basis.evaluate(model.cell_midpoints)


def campaign_plan(case: CaseConfig, *, n_samples: int, replicates: int = 1, design: str = "sobol", seed: int = 0):
    """The design and the material-field basis of a campaign (no FEM): ``(design, basis)``."""
    from .design import design_from_case

    return (design_from_case(case, n_samples=n_samples, replicates=replicates, method=design, seed=seed),
            _kl_basis(case))


def _identity(design_dict: dict) -> dict:
    return {k: v for k, v in design_dict.items() if k != "n_samples"}


def _check_manifest(directory: Path, case: CaseConfig, design) -> dict:
    """Create the manifest, or check that the directory holds this campaign; returns the manifest."""
    from .design import CampaignDesign

    path = directory / MANIFEST
    import scipy

    # designs and random streams are reproducible bit for bit within the same numpy/scipy versions
    new = {"uqgan_schema": 1, "case_toml": case_to_toml(case), "design": design.to_dict(), "created_utc": _utc_now(),
           "uqgan_version": __version__, "git_sha": git_sha(), "numpy_version": np.__version__,
           "scipy_version": scipy.__version__}
    if not path.exists():
        if list_shards(directory):
            raise CampaignError(f"{directory} holds shards but no {MANIFEST}: use a new --out directory")
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(new, indent=2)))
        return new
    old = json.loads(path.read_text())
    if case_from_toml(old["case_toml"]) != case:
        raise CampaignError(f"{directory} holds a campaign of another case (see its {MANIFEST}); nothing was changed: "
                            "use a new --out directory, or the case file it was made with")
    old_design = CampaignDesign.from_dict(old["design"])
    if _identity(old_design.to_dict()) != _identity(design.to_dict()):
        new_id, old_design_dict = _identity(design.to_dict()), old["design"]
        diff = [k for k in new_id if new_id[k] != old_design_dict.get(k)]
        was = ", ".join(f"{k}={old_design_dict.get(k)!r}" for k in diff)
        raise CampaignError(f"{directory} holds a campaign with another {', '.join(diff)} ({was}); nothing was "
                            "changed: rerun with the same values or use a new --out directory")
    if design.n_samples > old_design.n_samples:
        if not design.extends(old_design):
            raise CampaignError(f"a {design.method!r} design cannot be extended from {old_design.n_samples} to "
                                f"{design.n_samples} samples without changing the existing ones: use --design sobol "
                                "or mc for extensible campaigns, or a new --out directory")
        old["design"] = design.to_dict()
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(old, indent=2)))
        logger.info("extending %s from %d to %d samples", directory, old_design.n_samples, design.n_samples)
    return old


# ------------------------------------------------------------------------------------------------
# the worker side


_WORKER_CACHE: dict[str, Any] = {}


def _worker_model(case_toml: str, basis):
    key = hashlib.sha256(case_toml.encode()).hexdigest()
    if key not in _WORKER_CACHE:
        from ..fem import PlateModel
        from ..fem import fem_versions as versions

        case = case_from_toml(case_toml)
        model = PlateModel(case)
        psi = None if basis is None else basis.evaluate(model.cell_midpoints)
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = (case, model, psi, versions())
    return _WORKER_CACHE[key]


def full_model_seconds(case: CaseConfig, *, repeats: int = 3, seed: int = 0) -> float:
    """Median wall time [s] of one full-model sample as a campaign pays it: a new material field
    (stiffness assembly and factorisation), every time step and the zone QoIs, after a warm-up
    run. What the Monte Carlo's cost per sample is compared with (needs dolfinx)."""
    from ..fem import PlateModel

    model = PlateModel(case)
    model.solve()  # warm-up: first-call costs (JIT, caches) are not a sample's
    psi = material_field_basis(case, model)
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(repeats):
        E = None if psi is None else youngs_modulus_field(case, psi, rng.standard_normal(psi.shape[1]),
                                                          model.zone.cells)
        times.append(model.solve(youngs_modulus=E).wall_time_s)
    return float(np.median(times))


def with_inclusions(case: CaseConfig, youngs_modulus, cell_midpoints: np.ndarray, inclusions) -> np.ndarray | None:
    """The per-cell modulus with a sample's inclusions (``(count, 3)`` [m], or None: unchanged);
    a case without a random field starts from the nominal modulus."""
    if inclusions is None or len(inclusions) == 0:
        return youngs_modulus
    from ..physics.inclusions import apply_inclusions

    E = (np.full(len(cell_midpoints), case.material.youngs_modulus_pa) if youngs_modulus is None
         else youngs_modulus)
    return apply_inclusions(E, cell_midpoints, inclusions, stiffness_ratio=case.random_inclusions.stiffness_ratio)


def solve_sample(task: dict) -> dict:
    """Run one sample (in a worker). Never raises: a failure comes back with its reason."""
    sample = task["sample"]
    try:
        case, model, psi, versions = _worker_model(task["case_toml"], task["basis"])
        xi = np.asarray(task["xi"], dtype=float)
        E = None if psi is None else youngs_modulus_field(case, psi, xi, model.zone.cells)
        E = with_inclusions(case, E, model.cell_midpoints, task.get("inclusions"))
        save = task.get("fields_dir") is not None
        sol = model.solve(task["parameters"], youngs_modulus=E, keep_full_history=save)
        bad = [k for k, v in sol.qoi.items() if not np.isfinite(v)]
        if bad or not np.isfinite(sol.u_bc).all():
            raise FloatingPointError(f"non-finite result ({', '.join(bad) or 'u_bc'})")
        if save:
            model.write_xdmf(Path(task["fields_dir"]) / f"sample_{sample:06d}.xdmf", sol)
        return {"sample": sample, "ok": True, "u_bc": sol.u_bc, "time_s": sol.time_s,
                "boundary_coords": model.zone.boundary_coords, "qoi": sol.qoi, "wall_time_s": sol.wall_time_s,
                "fem_versions": versions}
    except Exception as err:  # recorded, the campaign goes on
        return {"sample": sample, "ok": False, "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()}


# ------------------------------------------------------------------------------------------------
# executors


#: the launcher of a sample's ranks; ``{ranks}`` is replaced (e.g. ``srun -n {ranks}`` inside a Slurm
#: allocation, ``mpirun --oversubscribe -n {ranks}``); overridden by the environment variable UQGAN_MPIEXEC
MPIEXEC = "mpirun -n {ranks}"


def solve_sample_mpi(task: dict, ranks: int) -> dict:
    """Run one sample on ``ranks`` MPI ranks (:mod:`uqgan.fem.parallel`, a fresh ``mpirun`` per
    sample) and return what :func:`solve_sample` returns. Never raises: a failure comes back with
    the launcher's error output."""
    import os
    import pickle
    import shlex
    import subprocess
    import sys
    import tempfile

    sample = task["sample"]
    launcher = shlex.split(os.environ.get("UQGAN_MPIEXEC", MPIEXEC).format(ranks=int(ranks)))
    with tempfile.TemporaryDirectory(prefix="uqgan-mpi-") as tmp:
        task_path, out_path = Path(tmp) / "task.pkl", Path(tmp) / "result.npz"
        task_path.write_bytes(pickle.dumps({k: task.get(k) for k in ("case_toml", "basis", "parameters", "xi",
                                                                     "inclusions")}))
        cmd = [*launcher, sys.executable, "-m", "uqgan.fem.parallel", str(task_path), str(out_path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as err:
            return {"sample": sample, "ok": False, "error": f"cannot start {launcher[0]!r}: {err}", "traceback": ""}
        if proc.returncode != 0 or not out_path.is_file():
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            return {"sample": sample, "ok": False, "traceback": proc.stderr,
                    "error": f"{' '.join(launcher)} exited with {proc.returncode}: {lines[-1] if lines else ''}"}
        with np.load(out_path) as r:
            return {"sample": sample, "ok": True, "u_bc": r["u_bc"], "time_s": r["time_s"],
                    "boundary_coords": r["boundary_coords"], "qoi": json.loads(str(r["qoi_json"])),
                    "wall_time_s": float(r["wall_time_s"]),
                    "fem_versions": {**json.loads(str(r["fem_versions_json"])), "mpi_ranks": str(int(r["ranks"]))}}


def _run_mpi(tasks, workers: int, ranks: int):
    """Samples on ``ranks`` ranks each, ``workers`` of them at a time (each its own ``mpirun``)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(solve_sample_mpi, t, ranks) for t in tasks]
        for f in as_completed(futures):
            yield f.result()


def _run_local(tasks, workers: int):
    if workers == 1:
        for t in tasks:
            yield solve_sample(t)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # spawn: a fresh interpreter per worker, never a fork of a process holding PETSc/MPI state
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(solve_sample, t): t["sample"] for t in tasks}
        for f in as_completed(futures):
            try:
                yield f.result()
            except BrokenProcessPool as err:
                # a worker was killed (out of memory, a signal): what finished is kept; the rest is
                # recorded as failed and a rerun computes it
                yield {"sample": futures[f], "ok": False, "traceback": "",
                       "error": f"a worker process died before finishing this sample ({err}); was it killed "
                                "(out of memory)? rerun to compute it"}


def _run_dask(tasks, scheduler: str):
    from .._lazy import require

    distributed = require("distributed", purpose="campaigns on a Dask cluster (--scheduler)")
    with distributed.Client(scheduler) as client:
        basis = tasks[0]["basis"] if tasks else None
        basis_f = client.scatter(basis, broadcast=True) if basis is not None else None
        futures = client.map(solve_sample, [{**t, "basis": basis_f} for t in tasks], pure=False)
        for f in distributed.as_completed(futures):
            yield f.result()


# ------------------------------------------------------------------------------------------------


def run_campaign(case: CaseConfig, directory: str | Path, *, n_samples: int, replicates: int = 1,
                 design: str = "sobol", seed: int = 0, workers: int = 1, scheduler: str | None = None,
                 save_fields: int = 0, show_progress: bool = True, ranks_per_sample: int = 1) -> CampaignReport:
    """Run (or resume, or extend) a full-model campaign into ``directory``.

    Parameters
    ----------
    case
        The case.
    directory
        Campaign directory (created); holds ``manifest.json``, ``shards/``, ``failures/``,
        ``fields/`` and ``campaign.log``.
    n_samples
        Total samples (design points × replicates); a larger value extends an existing campaign.
    replicates
        Independent material fields per design point; ``n_samples`` must be a multiple.
    design
        ``"sobol"`` (scrambled, extensible), ``"lhs"`` or ``"mc"``.
    seed
        The campaign's single seed: design and every sample's material field derive from it.
    workers
        Local processes (1 = in this process).
    scheduler
        Address of a Dask distributed scheduler; overrides ``workers``.
    save_fields
        Write ParaView files of the first ``save_fields`` samples to ``fields/``.
    show_progress
        Progress bar with ETA on stderr.
    ranks_per_sample
        MPI ranks per sample (> 1: each sample is one ``mpirun`` of :mod:`uqgan.fem.parallel`,
        ``workers`` samples at a time; launcher from UQGAN_MPIEXEC, default ``mpirun -n {ranks}``).

    Raises
    ------
    CampaignError
        If the directory holds another case or seed, or the design cannot be extended.
    ConfigError
        If an option is out of range (:class:`~uqgan.config.CampaignConfig`), one line per problem.
    """
    from ..config import CampaignConfig

    CampaignConfig.build(n_samples=n_samples, replicates=replicates, design=design, seed=seed, workers=workers,
                         scheduler=scheduler, save_fields=save_fields, ranks_per_sample=ranks_per_sample)
    t0 = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(directory / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _file_log.addHandler(handler)  # the campaign's own record; only the CLI configures uqgan's loggers
    try:
        try:
            plan_design, basis = campaign_plan(case, n_samples=n_samples, replicates=replicates, design=design,
                                               seed=seed)
        except ValueError as err:
            raise CampaignError(str(err)) from None
        manifest = _check_manifest(directory, case, plan_design)
        n_modes = 0 if basis is None else basis.n_modes
        done = set(list_shards(directory))
        todo = [s for s in range(n_samples) if s not in done]
        n_before = n_samples - len(todo)
        for log in (logger, _file_log):
            log.info("campaign %s: %d samples (%d points x %d replicates, %s design, seed %d), %d done, %d to run; "
                     "material field: %d KL modes", directory, n_samples, plan_design.n_points, replicates, design,
                     seed, n_before, len(todo), n_modes)
        params = plan_design.parameters()
        case_toml = case_to_toml(case)
        fields_dir = directory / FIELDS
        if save_fields:
            fields_dir.mkdir(exist_ok=True)
        tasks = [{"case_toml": case_toml, "basis": basis, "sample": s,
                  "point": int(plan_design.point_of(s)), "replicate": int(plan_design.replicate_of(s)),
                  "parameters": {k: float(v[s]) for k, v in params.items()},
                  "xi": plan_design.xi_rng(s).standard_normal(n_modes),
                  "inclusions": (plate_inclusions(case, rng=plan_design.inclusion_rng(s))
                                 if case.random_inclusions.count else None),
                  "fields_dir": str(fields_dir) if s < save_fields else None} for s in todo]
        by_id = {t["sample"]: t for t in tasks}
        attrs = {"case_name": case.name, "case_toml": case_toml, "seed": seed,
                 "design_json": json.dumps(_identity(plan_design.to_dict()), sort_keys=True),
                 "kl_json": json.dumps(_kl_summary(basis, case), sort_keys=True),
                 "created_utc": manifest["created_utc"], "uqgan_version": __version__, "git_sha": manifest["git_sha"]}
        failures: dict[int, str] = {}
        computed = 0
        if scheduler:
            results = _run_dask(tasks, scheduler)
        elif ranks_per_sample > 1:
            results = _run_mpi(tasks, workers, ranks_per_sample)
        else:
            results = _run_local(tasks, workers)
        from tqdm.auto import tqdm

        with tqdm(total=len(tasks), desc="full-model runs", unit="run", disable=not show_progress or not tasks) as bar:
            for res in results:
                s = res["sample"]
                fail_path = directory / FAILURES / f"sample_{s:06d}.json"
                if res["ok"]:
                    t = by_id[s]
                    ds = sample_dataset(sample=s, point=t["point"], replicate=t["replicate"],
                                        parameters=t["parameters"], xi=t["xi"], inclusions=t["inclusions"],
                                        time_s=res["time_s"],
                                        boundary_coords=res["boundary_coords"], u_bc=res["u_bc"], qoi=res["qoi"],
                                        attrs={**attrs, "fem_versions_json": json.dumps(res["fem_versions"],
                                                                                        sort_keys=True)})
                    write_shard(directory, ds)
                    if fail_path.exists():
                        fail_path.unlink()
                    computed += 1
                    _file_log.info("sample %d done in %.2f s", s, res["wall_time_s"])
                else:
                    failures[s] = res["error"]
                    write_atomic(fail_path, lambda tmp, r=res: tmp.write_text(json.dumps(
                        {"sample": r["sample"], "error": r["error"], "traceback": r["traceback"],
                         "utc": _utc_now()}, indent=2)))
                    logger.warning("sample %d failed: %s", s, res["error"])
                    _file_log.info("sample %d failed:\n%s", s, res["traceback"])
                bar.update(1)
        report = CampaignReport(directory=directory, n_samples=n_samples, n_done_before=n_before, n_computed=computed,
                                failures=dict(sorted(failures.items())), elapsed_s=time.perf_counter() - t0,
                                n_modes=n_modes)
        for log in (logger, _file_log):
            log.info(report.summary())
        return report
    finally:
        _file_log.removeHandler(handler)
        handler.close()


def _kl_summary(basis, case: CaseConfig) -> dict:
    rf = case.random_field
    out = {"coefficient_of_variation": rf.coefficient_of_variation, "kernel": rf.kernel,
           "correlation_length_m": rf.correlation_length_m, "n_modes": 0, "energy_fraction": 0.0}
    if basis is not None:
        out.update(n_modes=int(basis.n_modes), energy_fraction=float(basis.energy_fraction))
    return out

