"""Figures of a BC dataset (``uqgan.plots``, ``uqgan plot-data``): each writes a real image, the
quantile band is numpy's, bad input gives one line and exit code 2, matplotlib stays lazy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx")
pytest.importorskip("matplotlib")

import xarray as xr  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from uqgan import plots  # noqa: E402
from uqgan.cli import app  # noqa: E402
from uqgan.config import CaseConfig  # noqa: E402
from uqgan.data.campaign import run_campaign  # noqa: E402
from uqgan.data.dataset import open_dataset, sample_dataset, shard_path  # noqa: E402

pytestmark = pytest.mark.fenicsx

#: the tiny case of tests/test_campaign.py (copied: tests/ is not a package); ~2 s for 8 samples
from _cases import TINY  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FILES = ["bc_quantiles.png", "design.png", "qoi_histograms.png", "variance_split.png"]

runner = CliRunner()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    d = tmp_path_factory.mktemp("campaign")
    rep = run_campaign(CaseConfig.model_validate(TINY), d, n_samples=8, replicates=2, seed=3, show_progress=False)
    assert rep.n_computed == 8 and not rep.failures
    return d, open_dataset(d)


def synthetic(n_samples: int = 7, *, replicates: int = 1, n_time: int = 5, n_node: int = 6):
    """A dataset whose sample ``s`` has ``u_bc = (s + 1) * (1 + t + 10 n + 100 c) * 1e-9`` m: every
    (time, node, component) cell has a known set of sample values, in shuffled sample order."""
    order = np.random.default_rng(0).permutation(n_samples)  # quantiles must not depend on order
    t, n, c = np.meshgrid(np.arange(n_time), np.arange(n_node), np.arange(2), indexing="ij")
    base = (1.0 + t + 10 * n + 100 * c) * 1e-9
    theta = np.linspace(0, 2 * np.pi, n_node, endpoint=False)
    parts = [
        sample_dataset(sample=i, point=i // replicates, replicate=i % replicates,
                       parameters={"load_amplitude": 1e6 * (1 + i // replicates), "load_duration": 2e-5,
                                   "load_position": 0.2},
                       xi=np.zeros(2), time_s=np.arange(n_time) * 1e-6,
                       boundary_coords=np.stack([0.2 + 0.01 * np.cos(theta), 0.04 + 0.01 * np.sin(theta)], axis=1),
                       u_bc=(s + 1) * base,
                       qoi={"peak_von_mises": 1e6 * (s + 1), "peak_displacement": 1e-7 * (s + 1),
                            "peak_strain_energy": 1e-3 * (s + 1)})
        for i, s in enumerate(order)
    ]
    return xr.concat(parts, dim="sample", data_vars="all", coords="different", compat="equals",
                     combine_attrs="override", join="exact"), base, order


def assert_real_png(path: Path) -> None:
    """A PNG that matplotlib reads back as an image with something drawn on it."""
    from matplotlib.image import imread

    path = Path(path)
    # an empty 120-dpi figure is ~3 kB and uniform (std 0), one bare axes box ~11 kB with std ~0.08;
    # the figures here are 35-115 kB with std 0.14-0.25, so these bounds only catch broken output
    assert path.stat().st_size > 5_000, path
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05, "the image is (nearly) blank"


# ------------------------------------------------------------------------------------------------
# computation


@pytest.mark.parametrize("quantiles", [(0.05, 0.5, 0.95), (0.0, 0.25, 1.0), (0.5,)])
def test_bc_quantiles_equal_numpy(quantiles):
    ds, base, order = synthetic()
    q = plots.bc_quantiles(ds, quantiles)
    assert q.dims == ("quantile", "time", "node", "component")
    assert q.attrs["units"] == "m"
    values = (order + 1.0)[:, None, None, None] * base[None]  # (sample, time, node, component)
    # same linear interpolation on the same float64 values: only rounding differs
    np.testing.assert_allclose(q.values, np.quantile(values, quantiles, axis=0), rtol=1e-12, atol=0)
    # closed form: sample values are k * base for k = 1..7, so the median is 4 * base
    if 0.5 in quantiles:
        np.testing.assert_allclose(q.sel(quantile=0.5).values, 4 * base, rtol=1e-12)


@pytest.mark.parametrize("bad", [(), (0.5, 0.05), (0.05, 1.5), (-0.1, 0.5)])
def test_bad_quantiles_are_refused(bad):
    ds, _, _ = synthetic()
    with pytest.raises(ValueError, match="quantiles"):
        plots.bc_quantiles(ds, bad)


def test_si_scale_picks_readable_units():
    assert plots._si_scale([1.5e-7, -2e-8], "m") == pytest.approx((1e9, "nm"))
    assert plots._si_scale([3e-5], "m")[1] == "µm"
    assert plots._si_scale([1.9e6], "Pa")[1] == "MPa"
    assert plots._si_scale([1.8e-3], "J/m")[1] == "mJ/m"
    assert plots._si_scale([0.0], "m") == (1.0, "m")
    assert plots._si_scale([5.0], "1") == (1.0, "1")


def test_has_replicates():
    assert not plots.has_replicates(synthetic()[0])
    assert plots.has_replicates(synthetic(8, replicates=2)[0])


# ------------------------------------------------------------------------------------------------
# figures


def test_each_plot_writes_a_readable_png(campaign, tmp_path):
    _, ds = campaign
    for fn, name in [(plots.plot_bc_quantiles, "bc.png"), (plots.plot_design, "design.png"),
                     (plots.plot_qoi_histograms, "qoi.png"), (plots.plot_variance_split, "split.png")]:
        out = fn(ds, tmp_path / "sub" / name)
        assert out == tmp_path / "sub" / name
        assert_real_png(out)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["bc.png", "design.png", "qoi.png", "split.png"]


def test_bc_quantiles_plot_options(campaign, tmp_path):
    _, ds = campaign
    out = plots.plot_bc_quantiles(ds, tmp_path / "a.png", nodes=[0, 5], quantiles=(0.1, 0.25, 0.5, 0.75, 0.9))
    assert_real_png(out)
    with pytest.raises(ValueError, match="nodes"):
        plots.plot_bc_quantiles(ds, tmp_path / "b.png", nodes=[ds.sizes["node"]])
    assert not (tmp_path / "b.png").exists()


def test_no_figures_left_open(campaign, tmp_path):
    import matplotlib.pyplot as plt

    _, ds = campaign
    before = plt.get_fignums()
    plots.plot_data(ds, tmp_path)
    assert plt.get_fignums() == before


def test_variance_split_needs_replicates(tmp_path):
    ds, _, _ = synthetic()
    with pytest.raises(ValueError, match="--replicates >= 2"):
        plots.plot_variance_split(ds, tmp_path / "v.png")
    assert not (tmp_path / "v.png").exists()
    written = plots.plot_data(ds, tmp_path / "plots")
    assert [p.name for p in written] == FILES[:3]
    for p in written:
        assert_real_png(p)


def test_variance_split_of_synthetic_replicates(tmp_path):
    """Replicates at a point differ (sample-dependent factor), so every share is in (0, 1)."""
    ds, _, _ = synthetic(8, replicates=2)
    assert_real_png(plots.plot_variance_split(ds, tmp_path / "v.png"))


# ------------------------------------------------------------------------------------------------
# CLI


def _assert_one_line_failure(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit | None), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_cli_plot_data(campaign):
    d, _ = campaign
    result = runner.invoke(app, ["plot-data", str(d)])
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert_real_png(d / "plots" / name)
        assert str(d / "plots" / name) in result.stdout
    assert "variance within replicates (what the parameters do not explain): u_bc " in result.stdout
    assert "per unit amplitude" in result.stdout and "peak von Mises" in result.stdout


def test_cli_plot_data_netcdf_file_and_out(campaign, tmp_path):
    _, ds = campaign
    nc = tmp_path / "bc.nc"
    ds.to_netcdf(nc, engine="h5netcdf")
    result = runner.invoke(app, ["plot-data", str(nc)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(FILES)
    result = runner.invoke(app, ["plot-data", str(nc), "--out", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "elsewhere").glob("*.png"))) == 4


def test_cli_plot_data_bad_input(campaign, tmp_path):
    d, _ = campaign
    line = _assert_one_line_failure(runner.invoke(app, ["plot-data", str(tmp_path / "missing")]))
    assert "missing" in line
    (tmp_path / "empty").mkdir()
    line = _assert_one_line_failure(runner.invoke(app, ["plot-data", str(tmp_path / "empty")]))
    assert "no dataset" in line
    broken = tmp_path / "broken"
    shutil.copytree(d, broken, ignore=shutil.ignore_patterns("plots"))
    p = shard_path(broken, 3)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    line = _assert_one_line_failure(runner.invoke(app, ["plot-data", str(broken)]))
    assert "sample_000003.nc is corrupt or truncated" in line
    assert not (broken / "plots").exists()


def test_import_plots_does_not_import_matplotlib():
    code = "import sys, uqgan.plots, uqgan.cli; assert 'matplotlib' not in sys.modules, 'matplotlib loaded'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
