"""Training speed of ``wgan-gp`` (its defaults, arrival registration) on a real BC data set, per device.

    python benchmarks/study_training.py DATA [DATA ...] [--plan '[["cuda", 3000, 1], ["cpu", 300, 1]]']
        [--out benchmarks/results/study_training.json]

``DATA``: uqgan dataset directories or files (opened together, as ``uqgan train`` does), or one
``.npz`` written by ``--export``: a machine without h5netcdf (the lent GPU machines) reads that
(``u_bc`` as float32, the other variables beside it in a netCDF3 file ``<name>_meta.nc``).

Each plan row ``[device, steps, cpu_threads]`` fits the model once (kriging, POD, registration,
then the WGAN) and records the trainer's generator steps per second, the training and the whole
fit's wall time, the kept step and the paired test's p-value against the start. The measured
table is in docs/generators.md ("Cost").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(paths: list[str]):
    import numpy as np
    import xarray as xr

    if len(paths) == 1 and paths[0].endswith(".npz"):
        p = Path(paths[0])
        ds = xr.open_dataset(p.with_name(p.stem + "_meta.nc"), engine="scipy").load()
        z = np.load(p)
        ds["u_bc"] = (tuple(str(d) for d in z["dims"]), z["u_bc"].astype(np.float64), json.loads(str(z["attrs"])))
        return ds
    from uqgan.data.dataset import open_datasets

    return open_datasets(paths).load()


def _export(ds, path: Path) -> None:
    """``path`` (.npz, u_bc as float32) and ``<stem>_meta.nc`` (everything else, netCDF3 via scipy)."""
    import numpy as np

    def plain(attrs):
        return {k: (v if isinstance(v, (str, int, float, np.ndarray)) else str(v)) for k, v in attrs.items()}

    rest = ds.drop_vars("u_bc")
    rest.attrs = plain(rest.attrs)
    for v in rest.variables.values():
        v.attrs = plain(v.attrs)
    rest.to_netcdf(path.with_name(path.stem + "_meta.nc"), engine="scipy")
    np.savez_compressed(path, u_bc=ds["u_bc"].values.astype(np.float32), dims=np.array(ds["u_bc"].dims),
                        attrs=json.dumps({k: str(v) for k, v in ds["u_bc"].attrs.items()}))
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+")
    ap.add_argument("--plan", default='[["cuda", 3000, 1], ["cpu", 300, 1]]',
                    help="JSON list of [device, steps, cpu threads]; CUDA rows are skipped without a GPU")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "study_training.json")
    ap.add_argument("--export", type=Path, metavar="NPZ", help="write the data as NPZ (+ _meta.nc) and stop")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ds = _load(args.data)
    if args.export is not None:
        _export(ds, args.export)
        return 0
    import torch

    from uqgan.generators import make_generator

    rows = []
    for device, steps, threads in json.loads(args.plan):
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device}: no CUDA device, row skipped")
            continue
        gen = make_generator("wgan-gp", seed=0, registration="arrival", steps=int(steps), device=device,
                             num_threads=int(threads) if device == "cpu" else 1)
        t0 = time.perf_counter()
        gen.fit(ds)
        ts = gen.training_summary
        row = {"device": device, "steps": int(steps), "cpu_threads": int(threads),
               "steps_per_s": steps / ts["wall_time_s"], "train_wall_s": ts["wall_time_s"],
               "fit_s": time.perf_counter() - t0, "best_step": ts["best_step"],
               "p_vs_start": ts["start_test"]["p_value"], "coefficients": gen.prep.n_coefficients}
        print(f"{device:>5} {steps:5d} steps, {threads:2d} CPU threads: {row['steps_per_s']:6.1f} steps/s, training "
              f"{row['train_wall_s']:6.1f} s, fit {row['fit_s']:6.1f} s, kept step {row['best_step']} "
              f"(p = {row['p_vs_start']:.3g} against its start)", flush=True)
        rows.append(row)
    record = {"benchmark": "study_training", "data": args.data, "runs": int(ds.sizes["sample"]),
              "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "cpus": os.cpu_count(), "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    from uqgan.data.io import write_atomic

    write_atomic(args.out, lambda tmp: tmp.write_text(json.dumps(record, indent=2)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
