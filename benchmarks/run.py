"""uqgan benchmarks: one command, a table on stdout and JSON in benchmarks/results/.

    python benchmarks/run.py [--quick] [--samples N] [--only full_model|campaign|schemes|scale|...]

full_model: the full model of the default case at two mesh sizes, each in a fresh process so that
peak memory is its own: dofs, time steps, build time (mesh, spaces, mass matrix, zone operators),
time per sample with a new Young's-modulus field (stiffness assembly + LU factorisation + all time
steps + zone QoIs: what a campaign pays per run), time per sample with the field unchanged
(factorisation reused), time per step, and peak resident memory.

campaign: `uqgan generate-data` on the default case with 1 and 2 local workers: samples per hour
(start-up included), the speed-up, and bytes per sample on disk.

training: WGAN-GP generator steps per second (5 critic steps each) and sampled histories per second
(network + POD decoding to full 201 x 72 x 2 histories) at batch 64 and 4096, on the CPU and on a
GPU when one is present, on synthetic data of the default case's size (no FEM needed).

montecarlo: `uqgan montecarlo`'s cost per sample (parameters, a kriging-gaussian draw decoded to a
full history, the batched submodel and the statistics) against a full-model run, on the default
case; the generator is fitted to synthetic histories on the default case's boundary nodes and time
grid (its cost does not depend on where the data came from). With the spine's validations on disk
(results/spine-full or results/spine), also the accuracy side: each generator's bias against the
full-model reference and the finest CI half-width at which the chain is 20x cheaper.

schemes: the default plate with Newmark (dt 0.5 µs, 600 steps), with explicit central
differences (dt 0.1875 µs, 1600 steps: stable for 99.9 % of the random field's draws; docs/schemes.md), and
with central differences on the CJRT element (time.mass_lumping = "cjrt", dt 0.15 µs, 2000 steps, the
same margin under its 0.369 µs limit): the
full model's ms per step and seconds per sample (new material field), the Monte Carlo chain's
(kriging-gaussian on synthetic histories, the batched submodel, statistics) ms per sample with the
case's default submodel (central differences at the zone's own step, submodel.mass_lumping = "auto":
CJRT on the default plate), with an HRZ zone (submodel.mass_lumping = "hrz") and with the full model's
scheme and step ("exact chain", submodel.scheme = "full-model"), the savings per sample, and the
load average over the run (the machine is shared: compare the columns of one run). Then the
explicit full model over MPI (`mpirun -n R`,
R = 1, 2) at two mesh sizes: seconds per sample, ms per step, peak RSS per rank (the largest),
parallel efficiency t1 / (R tR).

scale: the 3-D plate with a hole (simulations/plate3d_hole) grown to ~113k, ~450k and ~1.08M P2 dofs
with the same zone: explicit on 1 and 2 MPI ranks, Newmark + MUMPS where it fits, against the Monte
Carlo chain per sample (benchmarks/scale.py, which also runs alone).

submodel: in one process, the full model's time per sample (new material field) against the
submodel's per sample, single and in batches of 64 and 1024 (default stride-3 histories, cubic
interpolation in time), with the dofs of each and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _child(element_size_m: float, samples: int) -> dict:
    import logging

    import numpy as np

    logging.basicConfig(level=logging.WARNING)
    from uqgan.config import default_case
    from uqgan.fem import PlateModel
    from uqgan.fem import fem_versions as versions

    base = default_case()
    case = base.model_copy(update={"geometry": base.geometry.model_copy(update={"element_size_m": element_size_m})})
    t0 = time.perf_counter()
    model = PlateModel(case)
    model.zone_qoi()  # zone operators are part of the set-up
    build = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    params = case.parameters.nominal()
    model.solve(params)  # warm-up: form compilation is cached on disk after the first run ever
    new_field, same_field = [], []
    for _ in range(samples):
        E = case.material.youngs_modulus_pa * np.exp(0.3 * rng.standard_normal(model.n_cells))
        new_field.append(model.solve(params, youngs_modulus=E).wall_time_s)
        same_field.append(model.solve(params).wall_time_s)
    n_steps = case.time.n_steps
    return {
        "element_size_m": element_size_m, "degree": case.geometry.degree, "dofs": model.n_dofs,
        "zone_dofs": model.zone.space.n_dofs, "boundary_nodes": int(model.zone.boundary_nodes.size),
        "time_steps": n_steps, "dt_s": case.time.dt_s, "build_s": build,
        "sample_new_field_s": float(np.median(new_field)), "sample_same_field_s": float(np.median(same_field)),
        "ms_per_step": 1e3 * float(np.median(same_field)) / n_steps,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "samples": samples,
        "versions": versions(),
    }


def _submodel_child(quick: bool) -> dict:
    import logging

    import numpy as np

    logging.basicConfig(level=logging.WARNING)
    from uqgan.config import default_case
    from uqgan.data.campaign import material_field_basis
    from uqgan.fem import PlateModel
    from uqgan.fem.submodel import SubModel
    from uqgan.physics.random_fields import youngs_modulus_field

    case = default_case()
    model = PlateModel(case)
    psi = material_field_basis(case, model)
    rng = np.random.default_rng(0)
    params = case.parameters.nominal()
    model.solve(params)  # warm-up
    sols, full_times = [], []
    for _ in range(2 if quick else 4):
        E = youngs_modulus_field(case, psi, rng.standard_normal(psi.shape[1]), model.zone.cells)
        sol = model.solve(params, youngs_modulus=E)
        sols.append(sol)
        full_times.append(sol.wall_time_s)
    full = float(np.median(full_times))
    t0 = time.perf_counter()
    sub = SubModel(case)
    build = time.perf_counter() - t0
    u = np.stack([s.u_bc for s in sols])
    t = sols[0].time_s
    rows = {"full_dofs": model.n_dofs, "submodel_dofs": sub.n_dofs, "full_s_per_sample": full,
            "submodel_build_s": build}
    for batch in (1, 64) if quick else (1, 64, 1024):
        reps = -(-batch // u.shape[0])
        ub = np.concatenate([u] * reps)[:batch]
        res = sub.solve(ub, t, batch_size=batch)
        rows[f"submodel_s_per_sample_batch_{batch}"] = res["wall_time_s"] / batch
        rows[f"speedup_batch_{batch}"] = full / (res["wall_time_s"] / batch)
    rows["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return rows


def _training_child(quick: bool) -> dict:
    import logging
    import tempfile

    import numpy as np

    logging.basicConfig(level=logging.WARNING)
    import torch

    from uqgan.data.synthetic import synthetic_bc_dataset
    from uqgan.generators import make_generator

    ds = synthetic_bc_dataset("arrival", n_points=160, replicates=5, n_time=201, n_nodes=72, seed=0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        # the default model (the instance-conditioned law of the runs' deviations, all POD coefficients),
        # the deviations' law from a Gaussian start and the correction of the pooled Gaussian
        # (residuals="replicate"); steps/s from the trainer's own clock (no kriging fit)
        for residuals, batch in (("neighbours", 64), ("neighbours", 4096), ("deviations", 64),
                                 ("replicate", 64)):
            steps = 10 if quick else 30
            gen = make_generator("wgan-gp", steps=steps, batch_size=batch, device=device, seed=0, log_every=10**6,
                                 checkpoint_every=10**6, residuals=residuals)
            with tempfile.TemporaryDirectory() as tmp:
                gen.fit(ds, directory=tmp)
            params = {k: np.full(1, float(ds[k].values[0])) for k in ("load_amplitude", "load_duration",
                                                                       "load_position")}
            gen.sample(params, n=batch, rng=np.random.default_rng(0))  # warm-up
            t0 = time.perf_counter()
            reps = 3
            for r in range(reps):
                gen.sample(params, n=batch, rng=np.random.default_rng(r))
            samp = (time.perf_counter() - t0) / reps
            rows.append({"device": device, "residuals": residuals, "batch": batch, "steps": steps,
                         "steps_per_s": steps / gen.training_summary["wall_time_s"], "histories_per_s": batch / samp,
                         "gan_dims": gen.training_summary["gan_dims"], "pod_modes": gen.prep.pod.n_modes,
                         "history_dims": int(np.prod(gen.prep.history_shape))})
    return {"rows": rows, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cuda": torch.cuda.is_available(), "torch": torch.__version__}


def _synthetic_training_data(case, sub):
    """Synthetic BC histories (kind "gaussian", 40 points x 4 replicates) on the case's output times and
    zone-boundary nodes, parameters rescaled to the case's ranges, displacements ~1e-8 m: what a
    generator of this case is trained on, for timing the chain without a campaign."""
    from uqgan.data.synthetic import synthetic_bc_dataset
    from uqgan.fem import PlateModel

    t = PlateModel(case).output_times
    ds = synthetic_bc_dataset("gaussian", n_points=40, replicates=4, n_time=t.size,
                              n_nodes=sub.boundary_coords.shape[0], seed=0)
    ds = ds.assign_coords(time=("time", t, {"units": "s"}), node_x=("node", sub.boundary_coords[:, 0]),
                          node_y=("node", sub.boundary_coords[:, 1]))
    for name in ("load_duration", "load_position"):  # the case's ranges
        r = getattr(case.parameters, name)
        ds[name] = r.low + (ds[name] - ds[name].min()) / (ds[name].max() - ds[name].min()) * (r.high - r.low)
        ds[name].attrs["role"] = "parameter"
    ds["u_bc"] = ds["u_bc"] * 1e-8
    return ds


def _montecarlo_child(quick: bool) -> dict:
    import logging
    import tempfile

    logging.basicConfig(level=logging.WARNING)
    from uqgan.config import MonteCarloConfig, default_case
    from uqgan.fem.submodel import SubModel
    from uqgan.generators import make_generator
    from uqgan.montecarlo import CheapChain, run_montecarlo

    case = default_case()
    from uqgan.data.campaign import full_model_seconds

    # a full-model sample has its own material field: stiffness assembly and factorisation included
    full = full_model_seconds(case, repeats=3, seed=0)
    sub = SubModel(case)
    ds = _synthetic_training_data(case, sub)
    n = 256 if quick else 1024
    per = {}
    for reg in ("none", "arrival"):  # arrival registration adds the shift back to every decoded history
        with tempfile.TemporaryDirectory() as tmp:
            gen = make_generator("kriging-gaussian", seed=0, registration=reg).fit(ds)
            res = run_montecarlo(CheapChain(case, gen, submodel=sub), f"{tmp}/mc",
                                 MonteCarloConfig(n_samples=n, batch=256, seed=0), show_progress=False)
        per[reg] = res.elapsed_s / n
    return {"full_s_per_sample": full, "mc_samples": n, "mc_s_per_sample": per["none"],
            "cheaper": full / per["none"], "mc_s_per_sample_registered": per["arrival"],
            "cheaper_registered": full / per["arrival"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _explicit_case(case, element_size_m: float = 0.01):
    """The case with central differences at 0.1875 µs x (h / 1 cm), stride 8: the default Newmark
    case's end time and output times on the 1 cm mesh, and a step stable for 99.9 % of the default
    random field's draws (their stiffest E up to ~5 E0 lowers the 0.464 µs limit to 0.21 µs;
    docs/schemes.md)."""
    f = element_size_m / 0.01
    g = case.geometry.model_copy(update={"element_size_m": element_size_m})
    t = case.time.model_copy(update={"scheme": "central-difference", "dt_s": 0.1875e-6 * f,
                                     "n_steps": round(1600 / f), "output_stride": 8})
    return case.model_copy(update={"geometry": g, "time": t})


def _chain_seconds(case, n: int) -> float:
    """Monte Carlo chain cost per sample [s] on ``case`` (as ``_montecarlo_child``, arrival registration),
    after a warm-up run."""
    import tempfile

    from uqgan.config import MonteCarloConfig
    from uqgan.fem.submodel import SubModel
    from uqgan.generators import make_generator
    from uqgan.montecarlo import CheapChain, run_montecarlo

    sub = SubModel(case)
    ds = _synthetic_training_data(case, sub)
    with tempfile.TemporaryDirectory() as tmp:
        gen = make_generator("kriging-gaussian", seed=0, registration="arrival").fit(ds)
        chain = CheapChain(case, gen, submodel=sub)
        # warm-up, as the full model's: first-call costs (the compiled kernels' load, the
        # factorisation, the spline basis) are no sample's
        run_montecarlo(chain, f"{tmp}/warm", MonteCarloConfig(n_samples=32, batch=32, seed=1), show_progress=False)
        res = run_montecarlo(chain, f"{tmp}/mc", MonteCarloConfig(n_samples=n, batch=256, seed=0), show_progress=False)
    return res.elapsed_s / n


def _schemes_child(quick: bool) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from uqgan.config import default_case
    from uqgan.data.campaign import full_model_seconds
    from uqgan.fem import PlateModel
    from uqgan.physics.blockops import numba_available

    rows = []
    explicit = _explicit_case(default_case())
    cjrt = explicit.model_copy(update={"time": explicit.time.model_copy(update={
        "mass_lumping": "cjrt", "dt_s": 0.15e-6, "n_steps": 2000, "output_stride": 10})})
    for case in (default_case(), explicit, cjrt):
        load0 = os.getloadavg()[0]
        model = PlateModel(case)
        model.solve()
        same = min(model.solve().wall_time_s for _ in range(2 if quick else 3))
        full = full_model_seconds(case, repeats=2 if quick else 3)
        chain = _chain_seconds(case, 256 if quick else 1024)
        hrz = case.model_copy(update={"submodel": case.submodel.model_copy(update={"mass_lumping": "hrz"})})
        chain_hrz = _chain_seconds(hrz, 256 if quick else 1024)
        exact = case.model_copy(update={"submodel": case.submodel.model_copy(update={"scheme": "full-model"})})
        chain_exact = _chain_seconds(exact, 256 if quick else 1024)
        rows.append({"scheme": case.time.scheme, "mass_lumping": case.time.mass_lumping, "dofs": model.n_dofs,
                     "dt_s": case.time.dt_s,
                     "time_steps": case.time.n_steps, "stable_dt_s": getattr(model, "stable_time_step_s", None),
                     "ms_per_step": 1e3 * same / case.time.n_steps, "full_s_per_sample": full,
                     "chain_submodel_scheme": case.submodel.scheme,
                     "chain_mass_lumping": case.submodel.mass_lumping, "chain_s_per_sample": chain,
                     "saving": full / chain, "chain_hrz_s_per_sample": chain_hrz, "saving_hrz": full / chain_hrz,
                     "chain_exact_s_per_sample": chain_exact,
                     "saving_exact": full / chain_exact,
                     "load_average": 0.5 * (load0 + os.getloadavg()[0])})
    return {"rows": rows, "numba": numba_available(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _mpi_child(element_size_m: float, samples: int) -> dict | None:
    import logging

    import numpy as np

    logging.basicConfig(level=logging.WARNING)
    from uqgan.config import default_case
    from uqgan.fem import _dolfinx as backend
    from uqgan.fem.parallel import DistributedPlateModel

    case = _explicit_case(default_case(), element_size_m)
    t0 = time.perf_counter()
    model = DistributedPlateModel(case)
    build = time.perf_counter() - t0
    model.solve()  # warm-up
    times = []
    for _ in range(samples):
        sol = model.solve()
        if sol is not None:
            times.append(sol.wall_time_s)
    rss = backend.global_max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if backend.world_rank() != 0:
        return None
    wall = float(np.median(times))
    return {"ranks": backend.world_size(), "element_size_m": element_size_m, "dofs": model.n_dofs,
            "time_steps": case.time.n_steps, "build_s": build, "s_per_sample": wall,
            "ms_per_step": 1e3 * wall / case.time.n_steps, "peak_rss_mib_per_rank": rss}


def _campaign(n_samples: int, workers: int) -> dict:
    import tempfile

    from uqgan.config import default_case, write_case

    with tempfile.TemporaryDirectory() as tmp:
        case_file = write_case(default_case(), Path(tmp) / "case.toml")
        out = Path(tmp) / "data"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "uqgan.cli", "-q", "generate-data", str(case_file), "--out", str(out),
                        "--samples", str(n_samples), "--workers", str(workers), "--no-progress"], check=True,
                       capture_output=True)
        wall = time.perf_counter() - t0
        shards = list((out / "shards").glob("sample_*.nc"))
        size = sum(p.stat().st_size for p in shards)
    return {"workers": workers, "samples": n_samples, "wall_s": wall, "samples_per_hour": 3600 * n_samples / wall,
            "bytes_per_sample": size / len(shards)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="default mesh only, 1 sample")
    ap.add_argument("--samples", type=int, default=3, help="timed samples per configuration (median reported)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "full_model.json")
    ap.add_argument("--only", choices=["full_model", "campaign", "schemes", "scale", "submodel", "training",
                                       "montecarlo"],
                    help="run one benchmark")
    ap.add_argument("--validation", type=Path, action="append", default=None, metavar="DIR",
                    help="where the Monte Carlo validations (mc_<generator>_validation.nc) lie, for the accuracy "
                         "side of the montecarlo benchmark (default: results/spine-full, then results/spine)")
    ap.add_argument("--child", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--child-submodel", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-training", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-montecarlo", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-schemes", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-mpi", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_schemes:
        print(json.dumps(_schemes_child(args.quick)))
        return 0
    if args.child_mpi is not None:
        record = _mpi_child(args.child_mpi, args.samples)
        if record is not None:
            print(json.dumps(record))
        return 0
    if args.child_montecarlo:
        print(json.dumps(_montecarlo_child(args.quick)))
        return 0
    if args.child_training:
        print(json.dumps(_training_child(args.quick)))
        return 0
    if args.child is not None:
        print(json.dumps(_child(args.child, args.samples)))
        return 0
    if args.child_submodel:
        print(json.dumps(_submodel_child(args.quick)))
        return 0
    meta = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results_dir = args.out.parent
    results_dir.mkdir(parents=True, exist_ok=True)

    if args.only in (None, "full_model"):
        sizes = [0.01] if args.quick else [0.01, 0.005]
        samples = 1 if args.quick else args.samples
        rows = []
        for h in sizes:
            rows.append(_run_in_child("--child", str(h), "--samples", str(samples)))
        print("Full model, default case (plane-strain steel plate, P2, Newmark average acceleration, PETSc LU)")
        print(f"{'h [mm]':>7} {'dofs':>7} {'zone dofs':>9} {'steps':>6} {'build [s]':>9} {'sample, new E [s]':>17} "
              f"{'sample, same E [s]':>18} {'ms/step':>8} {'peak RSS [MiB]':>14}")
        for r in rows:
            print(f"{r['element_size_m'] * 1e3:7.1f} {r['dofs']:7d} {r['zone_dofs']:9d} {r['time_steps']:6d} "
                  f"{r['build_s']:9.2f} {r['sample_new_field_s']:17.2f} {r['sample_same_field_s']:18.2f} "
                  f"{r['ms_per_step']:8.2f} {r['peak_rss_mib']:14.0f}")
        _write(args.out, {"benchmark": "full_model", **meta, "rows": rows})

    if args.only in (None, "campaign"):
        n = 8 if args.quick else 24
        rows = [_campaign(n, w) for w in (1, 2)]
        speedup = rows[1]["samples_per_hour"] / rows[0]["samples_per_hour"]
        print(f"Campaign, default case, {n} samples (process start-up and model build included)")
        print(f"{'workers':>7} {'wall [s]':>9} {'samples/hour':>13} {'bytes/sample':>13}")
        for r in rows:
            print(f"{r['workers']:7d} {r['wall_s']:9.1f} {r['samples_per_hour']:13.0f} {r['bytes_per_sample']:13.0f}")
        print(f"speed-up with 2 workers: {speedup:.2f}x")
        _write(results_dir / "campaign.json",
               {"benchmark": "campaign", **meta, "rows": rows, "speedup_2_workers": speedup})

    if args.only in (None, "schemes"):
        r = _run_in_child("--child-schemes", *(["--quick"] if args.quick else []))
        print("Time schemes, default plate: full model and Monte Carlo chain per sample (docs/schemes.md)")
        print(f"{'scheme':>23} {'dt [us]':>7} {'steps':>5} {'stable dt [us]':>14} {'full ms/step':>12} "
              f"{'full s/sample':>13} {'chain ms/sample':>15} {'saving':>7} {'hrz chain ms':>12} {'saving':>7} "
              f"{'exact chain ms':>14} {'saving':>7} "
              f"{'load':>5}")
        for row in r["rows"]:
            stable = "-" if row["stable_dt_s"] is None else f"{row['stable_dt_s'] * 1e6:.3f}"
            label = row["scheme"] + (" cjrt" if row.get("mass_lumping") == "cjrt" else "")
            print(f"{label:>23} {row['dt_s'] * 1e6:7.3f} {row['time_steps']:5d} {stable:>14} "
                  f"{row['ms_per_step']:12.2f} {row['full_s_per_sample']:13.3f} "
                  f"{1e3 * row['chain_s_per_sample']:15.1f} {row['saving']:6.0f}x "
                  f"{1e3 * row['chain_hrz_s_per_sample']:12.1f} {row['saving_hrz']:6.0f}x "
                  f"{1e3 * row['chain_exact_s_per_sample']:14.1f} {row['saving_exact']:6.0f}x "
                  f"{row['load_average']:5.1f}")
        print(f"chain: submodel {r['rows'][0]['chain_submodel_scheme']} (case.submodel.scheme), lumping "
              f"{r['rows'][0]['chain_mass_lumping']} (CJRT on the default plate); hrz chain: the same with "
              f"submodel.mass_lumping = 'hrz'; exact chain: the full model's scheme and step; compiled block products "
              f"(numba): {'yes' if r['numba'] else 'no'}")
        mpi = []
        if shutil.which("mpirun"):
            for h in [0.01] if args.quick else [0.01, 0.005]:
                for ranks in (1, 2):
                    mpi.append(_run_in_child("--child-mpi", str(h), "--samples", "1" if args.quick else "2",
                                             mpirun=ranks))
                base = mpi[-2]["s_per_sample"]
                for row in mpi[-2:]:
                    row["parallel_efficiency"] = base / (row["ranks"] * row["s_per_sample"])
            print("Explicit full model over MPI ranks (mpirun -n R; one model, nominal material)")
            print(f"{'h [mm]':>7} {'dofs':>7} {'ranks':>5} {'s/sample':>9} {'ms/step':>8} {'RSS/rank [MiB]':>14} "
                  f"{'efficiency':>10}")
            for row in mpi:
                print(f"{row['element_size_m'] * 1e3:7.1f} {row['dofs']:7d} {row['ranks']:5d} "
                      f"{row['s_per_sample']:9.3f} {row['ms_per_step']:8.3f} {row['peak_rss_mib_per_rank']:14.0f} "
                      f"{row['parallel_efficiency']:10.2f}")
        else:
            print("no mpirun: MPI rows omitted")
        _write(results_dir / "schemes.json", {"benchmark": "schemes", **meta, **r, "mpi": mpi})

    if args.only in (None, "scale"):
        if shutil.which("mpirun"):
            sys.path.insert(0, str(HERE))
            import scale

            scale.main(["--quick"] if args.quick else [])
        else:
            print("no mpirun: the scale benchmark needs it")

    if args.only in (None, "submodel"):
        r = _run_in_child("--child-submodel", *(["--quick"] if args.quick else []))
        print("Submodel vs full model, default case (per sample; submodel fed stride-3 histories, cubic in time)")
        print(f"{'model':>22} {'dofs':>7} {'s/sample':>10} {'cheaper':>8}")
        print(f"{'full':>22} {r['full_dofs']:7d} {r['full_s_per_sample']:10.4f} {1:8.1f}x")
        for key in sorted((k for k in r if k.startswith("submodel_s_per_sample_batch_")),
                          key=lambda k: int(k.rsplit("_", 1)[1])):
            b = key.rsplit("_", 1)[1]
            label = f"submodel, batch {b}"
            print(f"{label:>22} {r['submodel_dofs']:7d} {r[key]:10.4f} {r['speedup_batch_' + b]:8.1f}x")
        print(f"peak RSS {r['peak_rss_mib']:.0f} MiB")
        _write(results_dir / "submodel.json", {"benchmark": "submodel", **meta, **r})

    if args.only in (None, "training"):
        r = _run_in_child("--child-training", *(["--quick"] if args.quick else []))
        print(f"WGAN-GP training and sampling (torch {r['torch']}; synthetic data of the default case's size, "
              f"{r['rows'][0]['history_dims']} values per history, {r['rows'][0]['pod_modes']} POD modes)")
        print(f"{'device':>7} {'residuals':>10} {'batch':>6} {'gen. steps/s':>13} {'histories/s':>12}")
        for row in r["rows"]:
            print(f"{row['device']:>7} {row['residuals']:>10} {row['batch']:6d} {row['steps_per_s']:13.2f} "
                  f"{row['histories_per_s']:12.0f}")
        if not r["cuda"]:
            print("no CUDA device on this machine: GPU rows omitted")
        print(f"peak RSS {r['peak_rss_mib']:.0f} MiB")
        _write(results_dir / "training.json", {"benchmark": "training", **meta, **r})

    if args.only in (None, "montecarlo"):
        r = _run_in_child("--child-montecarlo", *(["--quick"] if args.quick else []))
        print(f"Monte Carlo, default case, {r['mc_samples']} samples "
              "(kriging-gaussian + batched submodel + statistics)")
        print(f"full model {r['full_s_per_sample']:.3f} s/sample; Monte Carlo {1e3 * r['mc_s_per_sample']:.1f} "
              f"ms/sample: {r['cheaper']:.0f}x cheaper; with arrival registration "
              f"{1e3 * r['mc_s_per_sample_registered']:.1f} ms/sample: {r['cheaper_registered']:.0f}x cheaper; "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB")
        r["equal_accuracy"] = _equal_accuracy(r["cheaper_registered"], args.validation
                                              or [Path("results/spine-full"), Path("results/spine")])
        _write(results_dir / "montecarlo.json", {"benchmark": "montecarlo", **meta, **r})
    return 0


def _equal_accuracy(cost_ratio: float, dirs: list[Path]) -> dict:
    """The goal is "20x cheaper at equal QoI accuracy": the cost ratio alone does not say it, since a
    biased chain is only as accurate as a full-model Monte Carlo whose CI is wider than its bias.
    With the spine's validations on disk (`python pipelines/spine.py [--full]`), print per generator
    and QoI the finest CI half-width of the mean at which the chain is 20x cheaper
    (:func:`uqgan.montecarlo.equal_accuracy`) at this machine's cost ratio."""
    import xarray as xr

    from uqgan.montecarlo import equal_accuracy, format_target

    for where in dirs:
        files = sorted(where.glob("mc_*_validation.nc"))
        if files:
            break
    else:
        print("equal accuracy: no validation on disk; run `python pipelines/spine.py --full` (or `make demo`) first")
        return {}
    out = {"source": str(where)}
    print(f"equal accuracy of the mean ({where}; cost ratio {cost_ratio:.0f}x): bias against the full-model "
          "reference, and the finest relative CI half-width at which the chain is 20x cheaper (point / conservative)")
    for f in files:
        g = f.name.removeprefix("mc_").removesuffix("_validation.nc")
        with xr.open_dataset(f, engine="h5netcdf") as v:
            acc = equal_accuracy(v.load(), cost_ratio=cost_ratio)
        out[g] = {}
        for q in acc["qoi"].values:
            a = acc.sel(qoi=q)
            out[g][str(q)] = {k: float(a[k]) for k in ("relative_bias", "relative_bias_se", "target_for_speedup",
                                                        "target_for_speedup_conservative",
                                                        "full_runs_at_that_target")}
            h, h_cons = float(a.target_for_speedup), float(a.target_for_speedup_conservative)
            reach = "never 20x" if h == float("inf") else (
                f"20x from {format_target(h)} (a {float(a.full_runs_at_that_target):.0f}-run full campaign's "
                f"accuracy) / {format_target(h_cons)}")
            print(f"  {g:>17} {str(q).removeprefix('qoi_'):>22}: bias {float(a.relative_bias):+6.1%} "
                  f"± {float(a.relative_bias_se):.1%}; {reach}")
    return out


def _run_in_child(*flags: str, mpirun: int | None = None) -> dict:
    """Run this script with ``flags`` in a fresh process (so peak memory is its own), or under
    ``mpirun -n N``, and return the JSON its last output line holds; a failing child's stderr is
    shown and its exit code returned."""
    cmd = [sys.executable, __file__, *flags]
    env = None
    if mpirun is not None:
        cmd = ["mpirun", "-n", str(mpirun), *cmd]
        env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
               "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(out.returncode)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write(path: Path, record: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
