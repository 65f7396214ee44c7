"""The boundary-condition dataset: schema, shards, open, validate.

A campaign directory holds one netCDF4/HDF5 shard per sample (``shards/sample_000123.nc``), each
written under a temporary name and renamed when complete, plus a ``manifest.json``.
:func:`open_dataset` gives one :class:`xarray.Dataset` over all shards (or a single netCDF file in
the same schema, e.g. BC data from another solver).

Schema (see DESIGN.md):

============================ ================================== =========================================
name                         dims                               meaning
============================ ================================== =========================================
``u_bc``                     (sample, time, node, component)    displacement on the zone boundary [m]
``load_amplitude`` etc.      (sample)                           conditioning parameters, ``role=parameter``
``xi``                       (sample, kl_mode)                  KL coefficients of the material field,
                                                                ``role=latent_truth`` (never a generator input)
``inclusions``               (sample, inclusion, inclusion_field)  centre x, y and radius of each inclusion [m],
                                                                ``role=latent_truth``; only in cases with
                                                                ``[random_inclusions] count > 0``
``qoi_<name>``               (sample)                           zone QoIs of the full model, ``role=qoi``
coords                       ``sample`` (int id), ``time`` [s], ``node``, ``node_x``/``node_y`` [m],
                             ``component`` ("x", "y"), ``point`` and ``replicate`` along ``sample``
============================ ================================== =========================================
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PARAMETER_UNITS
from ..physics.qoi import qoi_specs
from .io import write_atomic

__all__ = [
    "SCHEMA_VERSION",
    "DatasetError",
    "combine_datasets",
    "open_dataset",
    "open_datasets",
    "read_parameters",
    "sample_dataset",
    "variables_with_role",
    "shard_path",
    "validate_dataset",
    "write_shard",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SHARD_DIR = "shards"
_SHARD_RE = re.compile(r"^sample_(\d{6,})\.nc$")

_PARAMETER_LONG_NAMES = {
    "load_amplitude": "peak pressure of the half-sine pulse",
    "load_duration": "duration of the half-sine pulse",
    "load_position": "x of the footprint centre on the top edge",
}


class DatasetError(ValueError):
    """A dataset or shard is missing, corrupt or not in the uqgan schema; the message names it."""


def shard_path(directory: str | Path, sample: int) -> Path:
    return Path(directory) / SHARD_DIR / f"sample_{sample:06d}.nc"


def sample_dataset(*, sample: int, point: int, replicate: int, parameters: dict[str, float], xi: np.ndarray,
                   time_s: np.ndarray, boundary_coords: np.ndarray, u_bc: np.ndarray, qoi: dict[str, float],
                   attrs: dict[str, Any] | None = None, inclusions: np.ndarray | None = None):
    """One sample in the dataset schema (``sample`` dimension of length 1).

    Parameters
    ----------
    u_bc : (n_time, n_node, d) displacement [m], d = 2 (plane strain) or 3 (a 3-D mesh case)
    xi : (n_modes,) KL coefficients (may be empty)
    inclusions : (n_inclusions, 3) centre x, y and radius [m], or None (no variable)
    time_s : (n_time,) [s]; boundary_coords : (n_node, d) [m] (3-D adds the coordinate ``node_z``)
    """
    import xarray as xr

    u_bc = np.asarray(u_bc, dtype=np.float64)
    xi = np.asarray(xi, dtype=np.float64).reshape(-1)
    n_t, n_n, n_c = u_bc.shape
    data_vars = {
        "u_bc": (("sample", "time", "node", "component"), u_bc[None],
                 {"units": "m", "long_name": "displacement history on the submodel zone's boundary nodes"}),
        "xi": (("sample", "kl_mode"), xi[None],
               {"units": "1", "long_name": "Karhunen-Loeve coefficients of the Young's-modulus field",
                "role": "latent_truth"}),
    }
    if inclusions is not None:
        data_vars["inclusions"] = (
            ("sample", "inclusion", "inclusion_field"), np.asarray(inclusions, dtype=np.float64).reshape(1, -1, 3),
            {"units": "m", "long_name": "centre x, centre y and radius of each random inclusion",
             "role": "latent_truth"})
    for name, value in parameters.items():
        data_vars[name] = (("sample",), np.array([float(value)]),
                           {"units": PARAMETER_UNITS.get(name, "1"), "long_name": _PARAMETER_LONG_NAMES.get(name, name),
                            "role": "parameter"})
    for spec in qoi_specs(np.shape(u_bc)[-1]):
        data_vars[f"qoi_{spec.name}"] = (("sample",), np.array([float(qoi[spec.name])]),
                                         {"units": spec.units, "long_name": spec.long_name, "role": "qoi"})
    coords = {
        "sample": ("sample", np.array([sample], dtype=np.int64), {"long_name": "sample id"}),
        "point": ("sample", np.array([point], dtype=np.int64), {"long_name": "design point of the sample"}),
        "replicate": ("sample", np.array([replicate], dtype=np.int64),
                      {"long_name": "replicate (material field) at the design point"}),
        "time": ("time", np.asarray(time_s, dtype=np.float64), {"units": "s", "long_name": "time"}),
        "node": ("node", np.arange(n_n, dtype=np.int64), {"long_name": "zone boundary node, counter-clockwise"}),
        "node_x": ("node", np.asarray(boundary_coords[:, 0], dtype=np.float64),
                   {"units": "m", "long_name": "x of the node"}),
        "node_y": ("node", np.asarray(boundary_coords[:, 1], dtype=np.float64),
                   {"units": "m", "long_name": "y of the node"}),
        "component": ("component", np.array(["x", "y", "z"][:n_c]), {"long_name": "displacement component"}),
    }
    if inclusions is not None:
        coords["inclusion_field"] = ("inclusion_field", np.array(["x", "y", "radius"]),
                                     {"long_name": "what each inclusion column holds"})
    if n_c == 3:
        coords["node_z"] = ("node", np.asarray(boundary_coords[:, 2], dtype=np.float64),
                            {"units": "m", "long_name": "z of the node"})
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update({"uqgan_schema_version": SCHEMA_VERSION, **(attrs or {})})
    return ds


def write_shard(directory: str | Path, ds) -> Path:
    """Write a one-sample dataset to its shard, atomically."""
    sample = int(ds["sample"].values[0])
    return write_atomic(shard_path(directory, sample), lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


def list_shards(directory: str | Path) -> dict[int, Path]:
    """Sample id -> shard path of the complete shards in a campaign directory."""
    d = Path(directory) / SHARD_DIR
    if not d.is_dir():
        return {}
    out = {}
    for p in d.iterdir():
        m = _SHARD_RE.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def _open_one(path: Path):
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as err:  # h5py raises OSError/KeyError/ValueError on damaged files
        raise DatasetError(
            f"{path} is corrupt or truncated ({type(err).__name__}: {err}); delete it and rerun "
            "`uqgan generate-data` with the same arguments to recompute that sample"
        ) from None


def variables_with_role(ds, role: str) -> list[str]:
    """Names of the data variables whose ``attrs["role"]`` is ``role`` (``"parameter"``, ``"qoi"``), in order."""
    return [str(v) for v in ds.data_vars if ds[v].attrs.get("role") == role]


def validate_dataset(ds, *, source: str = "dataset") -> None:
    """Check ``ds`` against the schema; raise :class:`DatasetError` naming what is wrong."""
    problems = []
    if "u_bc" not in ds:
        problems.append("variable u_bc is missing")
    elif ds["u_bc"].dims != ("sample", "time", "node", "component"):
        problems.append(f"u_bc has dims {ds['u_bc'].dims}, expected ('sample', 'time', 'node', 'component')")
    for name in ("time", "node_x", "node_y", "component"):
        if name not in ds.coords:
            problems.append(f"coordinate {name} is missing")
    params = variables_with_role(ds, "parameter")
    if not params:
        problems.append("no variable has attrs role='parameter' (the conditioning parameters)")
    for v in ds.data_vars:
        if "units" not in ds[v].attrs:
            problems.append(f"variable {v} has no 'units' attribute")
    if "u_bc" in ds and ds["u_bc"].size and not np.isfinite(ds["u_bc"].values).all():
        problems.append("u_bc holds NaN or infinite values")
    if problems:
        raise DatasetError(f"{source} is not a uqgan BC dataset: " + "; ".join(problems))


def open_dataset(path: str | Path):
    """One :class:`xarray.Dataset` over a campaign directory's shards, or from one netCDF file.

    Raises
    ------
    DatasetError
        If ``path`` holds no dataset, a shard is corrupt or truncated (named), or the data does not
        follow the schema.
    """
    import xarray as xr

    path = Path(path)
    if path.is_file():
        ds = _open_one(path)
        validate_dataset(ds, source=str(path))
        return ds
    shards = list_shards(path)
    if not shards:
        raise DatasetError(f"{path} holds no dataset: no {SHARD_DIR}/sample_*.nc (run `uqgan generate-data` first)")
    parts = [_open_one(p) for p in shards.values()]
    ds = xr.concat(parts, dim="sample", data_vars="all", coords="different", compat="equals",
                   combine_attrs="override", join="exact")
    validate_dataset(ds, source=str(path))
    return ds


def open_datasets(paths) -> Any:
    """One dataset from one or several campaigns (:func:`open_dataset` each, then
    :func:`combine_datasets`); a single path gives :func:`open_dataset`'s result unchanged."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise DatasetError("no dataset given: name at least one campaign directory or netCDF file")
    parts = [open_dataset(p) for p in paths]
    return parts[0] if len(parts) == 1 else combine_datasets(parts, sources=[str(p) for p in paths])


def combine_datasets(datasets, *, sources=None):
    """Several campaigns of one case as one dataset, e.g. a campaign over the case's full parameter
    ranges plus an enrichment campaign over the sub-range where the histories change fastest.

    The first dataset sets the parameter ranges (its ``case_toml``, kept in the result's attrs, is
    what generators map the parameters with), so it must be the one over the widest ranges. The
    others must come from the same case up to the ``[parameters]`` ranges (same geometry, zone,
    material, random field, load and time grid) and lie inside the first's ranges. Design points
    keep their replicates together: each dataset's ``point`` ids are offset past the previous ones;
    ``sample`` is renumbered; a ``campaign`` coordinate along ``sample`` says where each run came from,
    and the attribute ``sources_json`` lists the sources with their seeds and provenance.

    Raises
    ------
    DatasetError naming the dataset and what differs.
    """
    import json

    import xarray as xr

    from ..config import case_from_toml

    datasets = list(datasets)
    sources = [f"dataset {i}" for i in range(len(datasets))] if sources is None else list(sources)
    if len(sources) != len(datasets):
        raise ValueError(f"{len(sources)} sources for {len(datasets)} datasets")
    first = datasets[0]
    params = variables_with_role(first, "parameter")
    cases = [case_from_toml(d.attrs["case_toml"]) if "case_toml" in d.attrs else None for d in datasets]
    problems = []
    for k in range(1, len(datasets)):
        d, name = datasets[k], sources[k]
        if variables_with_role(d, "parameter") != params:
            problems.append(f"{name} has parameters {variables_with_role(d, 'parameter')}, {sources[0]} has {params}")
            continue
        if (cases[0] is None) != (cases[k] is None):
            problems.append(f"{name} and {sources[0]}: only one says which case made it (attribute case_toml)")
        elif cases[0] is not None:
            a, b = cases[0].model_dump(), cases[k].model_dump()
            differ = sorted(key for key in a.keys() | b.keys() if key != "parameters" and a.get(key) != b.get(key))
            if differ:
                problems.append(f"{name} comes from another case than {sources[0]}: [{'], ['.join(differ)}] differ "
                                "(only the [parameters] ranges may)")
            for p in params:
                lo0, hi0 = getattr(cases[0].parameters, p).low, getattr(cases[0].parameters, p).high
                lo, hi = getattr(cases[k].parameters, p).low, getattr(cases[k].parameters, p).high
                if lo < lo0 or hi > hi0:
                    problems.append(f"{name} covers {p} over [{lo:g}, {hi:g}], beyond {sources[0]}'s "
                                    f"[{lo0:g}, {hi0:g}]: list the campaign over the widest ranges first")
        for coord in ("time", "node_x", "node_y", "component") + (("node_z",) if "node_z" in first.coords else ()):
            a, b = d[coord].values, first[coord].values
            same = a.shape == b.shape and (np.array_equal(a, b) if coord == "component" else
                                           np.allclose(a, b, rtol=1e-9, atol=0))
            if not same:
                problems.append(f"{name}'s {coord} differs from {sources[0]}'s: the histories must share one grid")
    if problems:
        raise DatasetError("cannot combine the datasets: " + "; ".join(problems))
    parts, offset, info = [], 0, []
    for k, (d, name) in enumerate(zip(datasets, sources, strict=True)):
        pts = d["point"].values if "point" in d.coords else np.arange(d.sizes["sample"])
        d = d.drop_vars([v for v in ("point", "campaign") if v in d.coords])
        d = d.assign_coords(point=("sample", pts - pts.min() + offset), campaign=("sample", np.full(pts.size, k)))
        d = d.assign_coords(sample=np.arange(d.sizes["sample"]))  # renumbered below
        offset += int(pts.max() - pts.min()) + 1
        parts.append(d)
        info.append({"source": name, "samples": int(d.sizes["sample"]), "points": int(np.unique(pts).size),
                     **{a: d.attrs[a] for a in ("seed", "created_utc", "git_sha", "design_json") if a in d.attrs}})
    out = xr.concat(parts, dim="sample", data_vars="all", coords="different", compat="equals",
                    combine_attrs="override", join="override")
    out = out.assign_coords(sample=np.arange(out.sizes["sample"]))
    out["campaign"].attrs["long_name"] = "index of the source campaign in attribute sources_json"
    out.attrs["sources_json"] = json.dumps(info, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    logger.info("combined %d datasets: %s", len(parts), ", ".join(f"{i['source']} ({i['samples']} runs)" for i in info))
    validate_dataset(out, source="combined dataset")
    return out


def read_parameters(path: str | Path) -> dict[str, np.ndarray]:
    """Parameter rows from a CSV (a header line naming the parameters, one column each) or a netCDF
    file (one variable each), as name -> ``(m,)`` float arrays, for ``Generator.sample``.

    Raises
    ------
    DatasetError naming the file and the column when it is missing, has no header or holds
    non-numbers or blanks.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"parameter file {path} does not exist")
    if path.suffix.lower() in (".nc", ".nc4", ".h5", ".netcdf"):
        import xarray as xr

        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return {str(k): np.asarray(ds[k].values, dtype=float).reshape(-1) for k in ds.data_vars}
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=float, encoding="utf-8")
    if table.dtype.names is None:
        raise DatasetError(f"{path}: expected a CSV with a header line naming the parameters")
    bad = [n for n in table.dtype.names if not np.all(np.isfinite(np.atleast_1d(table[n])))]
    if bad:
        raise DatasetError("; ".join(f"{path}: column {n!r} holds non-numbers or blanks" for n in bad))
    return {n: np.atleast_1d(table[n]).astype(float) for n in table.dtype.names}
