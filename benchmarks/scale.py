"""Scale benchmark (issue 15): the full model of the 3-D plate at three sizes up to 10⁶ dofs, on 1
and 2 MPI ranks, against the Monte Carlo chain's cost per sample on the same case.

    python benchmarks/scale.py [--quick] [--steps 100] [--out benchmarks/results/scale.json]
    python benchmarks/run.py --only scale          # the same, from `make bench`

The geometry is simulations/plate3d_hole (steel plate 2 cm thick, a hole in a fixed zone
[0.17, 0.23] x [0.05, 0.11] m, P2 tetrahedra at h = 1 cm) grown in length and width
(make_mesh.py --length/--width): the zone and its mesh stay the same while the structure grows.
Per size:

* explicit central differences (lumped mass) at 80 % of the mesh's stable step, end time 150 µs
  (the case's), on 1 and 2 ranks (``mpirun -n R``, :class:`uqgan.fem.parallel.DistributedPlateModel`):
  a sample is a new material field (stiffness assembly; the field is below E0 so the nominal
  stable step holds) plus every time step with the zone QoIs. The steps are timed over ``--steps``
  steps and scaled to the case's step count: seconds per sample = assembly + ms per step x steps.
  Peak RSS per rank (``getrusage`` max RSS, the largest rank's), parallel efficiency T1 / (2 T2).
* implicit Newmark (average acceleration, dt = 1 µs, 150 steps: the case's own), serial
  MUMPS Cholesky (:class:`uqgan.fem.PlateModel`), where it fits: assembly, factorisation and the
  steps timed over ``--steps`` steps at most, scaled the same way.
* the Monte Carlo chain per sample on the same case and scheme: kriging-gaussian with arrival
  registration fitted to synthetic histories on the case's boundary nodes and output times, the
  batched submodel, statistics (as benchmarks/run.py's schemes section), and the saving
  (full seconds per sample / chain seconds per sample).

Each row also records the load average (1, 5, 15 min) just after its run: on a shared machine the
parallel efficiency means little when the load exceeds the cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASE_DIR = ROOT / "simulations" / "plate3d_hole"
#: (length, width) [m] of the three plates at h = 1 cm: ~113k, ~450k and ~1.08M P2 dofs
SIZES = ((0.6, 0.3), (1.2, 0.6), (1.9, 0.95))
END_TIME_S = 150e-6
DT_FRACTION = 0.8
OUTPUT_STRIDE = 8


def _case(mesh: Path, *, scheme: str, dt_s: float, n_steps: int, stride: int):
    from uqgan.config import load_case

    base = load_case(CASE_DIR / "case.toml", check_mesh=False)
    g = base.geometry.model_copy(update={"mesh": str(mesh), "element_size_m": 0.01})
    t = base.time.model_copy(update={"scheme": scheme, "dt_s": dt_s, "n_steps": n_steps, "output_stride": stride})
    return base.model_copy(update={"name": mesh.stem, "geometry": g, "time": t})


def _field(model, seed: int = 0):
    """A new material field per local cell, below E0 (so the nominal stable step holds): E0 (1 - 0.2 U)."""
    import numpy as np

    rng = np.random.default_rng([seed, getattr(model, "rank", 0)])
    return model.case.material.youngs_modulus_pa * (1.0 - 0.2 * rng.random(model.n_cells))


def _explicit_child(mesh: Path, dt_s: float | None, steps: int) -> dict | None:
    """Under mpirun: build the MPI model, time a sample's assembly and ``steps`` steps."""
    import logging

    from uqgan.fem import _dolfinx as backend
    from uqgan.fem.parallel import DistributedPlateModel

    logging.basicConfig(level=logging.WARNING)
    probe = dt_s is None
    case = _case(mesh, scheme="central-difference", dt_s=1e-12 if probe else dt_s, n_steps=steps,
                 stride=OUTPUT_STRIDE)
    t0 = time.perf_counter()
    model = DistributedPlateModel(case)
    build = backend.global_max(time.perf_counter() - t0)
    if probe:  # the mesh's own step: 80 % of its limit; the model is re-timed, not rebuilt (a benchmark shortcut)
        dt_s = DT_FRACTION * model.stable_time_step_s
        case = _case(mesh, scheme="central-difference", dt_s=dt_s, n_steps=steps, stride=OUTPUT_STRIDE)
        model.case = case
        model.integrator = model._integrator(model.K, model.K_op)
    E = _field(model)
    model.solve(youngs_modulus=E)  # warm-up (first-touch of the new matrices' memory)
    sol = model.solve(youngs_modulus=E)  # assembly again + the steps + the zone QoIs
    rss = backend.gather_to_root(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    kl = _kl_at_cells(model)  # after the RSS: the field's basis at this rank's cells, its own cost
    if backend.world_rank() != 0:
        return None
    loop = sol.extra["time_loop_s"]
    ms_per_step = 1e3 * loop / steps
    n_steps = math.ceil(END_TIME_S / dt_s)
    assembly = sol.wall_time_s - loop  # this sample's stiffness assembly, load vector, final reductions
    return {"ranks": backend.world_size(), "dofs": model.n_dofs, "zone_dofs": model.zone.n_dofs,
            "boundary_nodes": int(model.zone.boundary_nodes.size), "stable_dt_s": model.stable_time_step_s,
            "dt_s": dt_s, "case_steps": n_steps, "timed_steps": steps, "build_s": build, "assembly_s": assembly,
            "ms_per_step": ms_per_step, "s_per_sample": assembly + 1e-3 * ms_per_step * n_steps,
            "peak_rss_mib_per_rank": rss, "qoi": sol.qoi, **kl}


def _kl_at_cells(model) -> dict:
    """The case's KL basis (Nyström on a grid of the bounding box) evaluated at this rank's cells:
    seconds, modes, the basis array's MiB and the RSS it adds (the field of a campaign sample)."""
    from uqgan.data.campaign import material_field_basis
    from uqgan.fem import _dolfinx as backend

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    psi = material_field_basis(model.case, model)
    seconds = backend.global_max(time.perf_counter() - t0)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kl_s": seconds, "kl_modes": int(psi.shape[1]), "kl_basis_mib": backend.global_max(psi.nbytes / 2**20),
            "kl_rss_growth_mib": backend.global_max(after - before)}


def _implicit_child(mesh: Path, steps: int) -> dict:
    """Serial Newmark with MUMPS Cholesky: assembly + factorisation, then ``steps`` steps, scaled to 150."""
    import logging

    from uqgan.fem import PlateModel
    from uqgan.physics.material import half_sine_pulse

    logging.basicConfig(level=logging.WARNING)
    n_case = round(END_TIME_S / 1e-6)
    case = _case(mesh, scheme="newmark", dt_s=1e-6, n_steps=min(steps, n_case), stride=3)
    t0 = time.perf_counter()
    model = PlateModel(case)
    build = time.perf_counter() - t0
    E = _field(model)
    t0 = time.perf_counter()
    integ = model.integrator(E)  # assembly + factorisation
    factor = time.perf_counter() - t0
    params = case.parameters.nominal()
    F = model.unit_load(params["load_position"])
    qoi = model.zone_qoi(E)
    zone_dofs = model.raw_dofs(model.zone.full_nodes)
    t0 = time.perf_counter()
    integ.run(case.time.n_steps, force=lambda t: F * float(half_sine_pulse(t, params["load_amplitude"],
                                                                          params["load_duration"])),
              observer=lambda k, t, u, v, a: qoi.update(u[zone_dofs]))  # the steps and the zone QoIs
    ms_per_step = 1e3 * (time.perf_counter() - t0) / case.time.n_steps
    return {"ranks": 1, "dofs": model.n_dofs, "dt_s": 1e-6, "case_steps": n_case, "timed_steps": case.time.n_steps,
            "build_s": build, "assembly_s": factor, "ms_per_step": ms_per_step,
            "s_per_sample": factor + 1e-3 * ms_per_step * n_case,
            "peak_rss_mib_per_rank": [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]}


def _chain_child(mesh: Path, scheme: str, dt_s: float, samples: int) -> dict:
    """The Monte Carlo chain's seconds per sample on the case (serial, batches of 256)."""
    import logging

    import numpy as np

    logging.basicConfig(level=logging.WARNING)
    from uqgan.config import MonteCarloConfig
    from uqgan.data.synthetic import synthetic_bc_dataset
    from uqgan.fem.submodel import SubModel
    from uqgan.generators import make_generator
    from uqgan.montecarlo import CheapChain, run_montecarlo

    n_steps = math.ceil(END_TIME_S / dt_s)
    stride = OUTPUT_STRIDE if scheme == "central-difference" else 3
    case = _case(mesh, scheme=scheme, dt_s=dt_s, n_steps=n_steps, stride=stride)
    sub = SubModel(case)
    t = np.arange(0, n_steps + 1, stride) * dt_s
    xyz = sub.boundary_coords
    ds = synthetic_bc_dataset("gaussian", n_points=40, replicates=4, n_time=t.size, n_nodes=xyz.shape[0], seed=0)
    if "component" in ds["u_bc"].dims and ds.sizes["component"] != xyz.shape[1]:  # 3-D: three components
        ds = ds.isel(component=np.arange(xyz.shape[1]) % ds.sizes["component"])
        ds = ds.assign_coords(component=("component", ["x", "y", "z"][: xyz.shape[1]]))
    ds = ds.assign_coords(time=("time", t, {"units": "s"}), node_x=("node", xyz[:, 0]), node_y=("node", xyz[:, 1]),
                          **({"node_z": ("node", xyz[:, 2])} if xyz.shape[1] == 3 else {}))
    for name in ("load_duration", "load_position"):
        r = getattr(case.parameters, name)
        ds[name] = r.low + (ds[name] - ds[name].min()) / (ds[name].max() - ds[name].min()) * (r.high - r.low)
        ds[name].attrs["role"] = "parameter"
    ds["u_bc"] = ds["u_bc"] * 1e-8
    with tempfile.TemporaryDirectory() as tmp:
        gen = make_generator("kriging-gaussian", seed=0, registration="arrival").fit(ds)
        res = run_montecarlo(CheapChain(case, gen, submodel=sub), f"{tmp}/mc",
                             MonteCarloConfig(n_samples=samples, batch=256, seed=0), show_progress=False)
    return {"scheme": scheme, "zone_dofs": sub.n_dofs, "chain_s_per_sample": res.elapsed_s / samples,
            "samples": samples, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(*args: str, ranks: int | None = None) -> dict:
    cmd = [sys.executable, __file__, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if ranks is not None:
        version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
        cmd = ["mpirun", "-n", str(ranks), *(["--oversubscribe"] if "Open MPI" in version else []), *cmd]
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-5000:])
        raise SystemExit(out.returncode)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_mesh(length: float, width: float, where: Path) -> Path:
    path = where / f"plate3d_hole_{length:g}x{width:g}_h1cm.msh"
    if not path.exists():
        subprocess.run([sys.executable, str(CASE_DIR / "make_mesh.py"), "--h", "0.01", "--length", str(length),
                        "--width", str(width), "--out", str(path)], check=True, capture_output=True)
    return path


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smallest size only, 1 and 2 ranks, no implicit")
    ap.add_argument("--steps", type=int, default=100, help="time steps timed per run (scaled to the case's)")
    ap.add_argument("--chain-samples", type=int, default=256)
    ap.add_argument("--implicit-max-dofs", type=int, default=500_000,
                    help="largest model run with Newmark + MUMPS (its 3-D factor grows superlinearly)")
    ap.add_argument("--meshes", type=Path, default=HERE / "results" / "meshes", help="where the meshes are kept")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    ap.add_argument("--child", choices=["explicit", "implicit", "chain"], help=argparse.SUPPRESS)
    ap.add_argument("--mesh", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dt", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--scheme", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "explicit":
        r = _explicit_child(args.mesh, args.dt, args.steps)
        if r is not None:
            print(json.dumps(r))
        return 0
    if args.child == "implicit":
        print(json.dumps(_implicit_child(args.mesh, args.steps)))
        return 0
    if args.child == "chain":
        print(json.dumps(_chain_child(args.mesh, args.scheme, args.dt, args.chain_samples)))
        return 0

    args.meshes.mkdir(parents=True, exist_ok=True)
    rows = []
    for length, width in SIZES[:1] if args.quick else SIZES:
        mesh = make_mesh(length, width, args.meshes)
        base = ["--mesh", str(mesh), "--steps", str(args.steps)]
        one = {**_run("--child", "explicit", *base, ranks=1), "load_after": _load()}
        two = {**_run("--child", "explicit", *base, "--dt", repr(one["dt_s"]), ranks=2), "load_after": _load()}
        chain = _run("--child", "chain", "--mesh", str(mesh), "--scheme", "central-difference", "--dt",
                     repr(one["dt_s"]), "--chain-samples", str(args.chain_samples))
        for r in (one, two):
            r.update(scheme="central-difference", chain_s_per_sample=chain["chain_s_per_sample"],
                     saving=r["s_per_sample"] / chain["chain_s_per_sample"],
                     parallel_efficiency=one["s_per_sample"] / (r["ranks"] * r["s_per_sample"]))
        rows += [one, two]
        if not args.quick and one["dofs"] <= args.implicit_max_dofs:
            imp = {**_run("--child", "implicit", *base), "load_after": _load()}
            chain_i = _run("--child", "chain", "--mesh", str(mesh), "--scheme", "newmark", "--dt", "1e-6",
                           "--chain-samples", str(args.chain_samples))
            imp.update(scheme="newmark (MUMPS)", chain_s_per_sample=chain_i["chain_s_per_sample"],
                       saving=imp["s_per_sample"] / chain_i["chain_s_per_sample"], parallel_efficiency=None)
            rows.append(imp)
        _print(rows)
    record = {"benchmark": "scale", "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "cpus": os.cpu_count(), "load_average_end": _load(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"load average (1, 5, 15 min) at the end: {_load()}\nwrote {args.out}")
    return 0


def _print(rows: list[dict]) -> None:
    print("\nScale: 3-D plate with a hole (P2 tetrahedra, h = 1 cm, fixed zone), full model vs Monte Carlo chain "
          "per sample")
    print(f"{'dofs':>9} {'scheme':>16} {'ranks':>5} {'dt [us]':>7} {'steps':>5} {'ms/step':>8} {'s/sample':>9} "
          f"{'RSS/rank [MiB]':>14} {'efficiency':>10} {'chain ms/sample':>15} {'saving':>7} {'load after':>16}")
    for r in rows:
        eff = "-" if r["parallel_efficiency"] is None else f"{r['parallel_efficiency']:.2f}"
        print(f"{r['dofs']:9d} {r['scheme']:>16} {r['ranks']:5d} {r['dt_s'] * 1e6:7.3f} {r['case_steps']:5d} "
              f"{r['ms_per_step']:8.1f} {r['s_per_sample']:9.1f} {max(r['peak_rss_mib_per_rank']):14.0f} "
              f"{eff:>10} {1e3 * r['chain_s_per_sample']:15.1f} {r['saving']:6.0f}x {r['load_after']:>16}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
