"""Full-model campaigns: dataset schema, durability (resume, extend, workers), failures, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import xarray as xr  # noqa: E402

from uqgan.config import CaseConfig, write_case  # noqa: E402
from uqgan.data import campaign as campaign_mod  # noqa: E402
from uqgan.data.campaign import CampaignError, run_campaign  # noqa: E402
from uqgan.data.dataset import DatasetError, list_shards, open_dataset, shard_path  # noqa: E402
from uqgan.physics.random_fields import youngs_modulus_field  # noqa: E402

pytestmark = pytest.mark.fenicsx

from _cases import TINY  # noqa: E402


@pytest.fixture(scope="module")
def case():
    return CaseConfig.model_validate(TINY)


def without_run_metadata(ds):
    """Two separate campaigns differ only in when they were created."""
    ds = ds.copy()
    ds.attrs.pop("created_utc")
    return ds


@pytest.fixture(scope="module")
def reference(case, tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, show_progress=False)
    assert rep.n_computed == 8 and not rep.failures
    return d, open_dataset(d)


def test_schema(reference, case):
    _, ds = reference
    assert ds["u_bc"].dims == ("sample", "time", "node", "component")
    assert ds.sizes["sample"] == 8 and ds.sizes["component"] == 2
    assert list(ds["sample"].values) == list(range(8))
    assert list(ds["point"].values) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert list(ds["replicate"].values) == [0, 1] * 4
    for v in list(ds.data_vars) + ["time", "node_x", "node_y"]:
        assert "units" in ds[v].attrs and "long_name" in ds[v].attrs, v
    roles = {v: ds[v].attrs.get("role") for v in ds.data_vars}
    assert [v for v, r in roles.items() if r == "parameter"] == ["load_amplitude", "load_duration", "load_position"]
    assert roles["xi"] == "latent_truth"
    assert {v for v, r in roles.items() if r == "qoi"} == {"qoi_peak_von_mises", "qoi_peak_displacement",
                                                          "qoi_peak_strain_energy"}
    for key in ("case_toml", "seed", "uqgan_version", "git_sha", "created_utc", "fem_versions_json", "design_json"):
        assert key in ds.attrs, key
    assert json.loads(ds.attrs["fem_versions_json"])["dolfinx"] == "0.5.2"
    # replicates share the parameters and differ in the material field
    p = ds["load_amplitude"].values
    assert p[0] == p[1] and p[0] != p[2]
    assert not np.array_equal(ds["xi"].values[0], ds["xi"].values[1])
    assert not np.allclose(ds["u_bc"].values[0], ds["u_bc"].values[1])
    # parameters lie in the case's ranges
    for name in ("load_amplitude", "load_duration", "load_position"):
        r = getattr(case.parameters, name)
        assert ((ds[name] >= r.low) & (ds[name] <= r.high)).all()


def test_sample_equals_a_direct_full_model_run(reference, case):
    """The campaign stores what the full model computes for that sample's inputs."""
    from uqgan.fem import PlateModel

    d, ds = reference
    model = PlateModel(case)
    from uqgan.data.campaign import material_field_basis

    psi = material_field_basis(case, model)
    s = 5
    E = youngs_modulus_field(case, psi, ds["xi"].values[s], model.zone.cells)
    # the zone keeps the nominal modulus; outside it the field has the case's CoV (roughly, 5 modes)
    assert np.all(E[model.zone.cells] == case.material.youngs_modulus_pa)
    params = {k: float(ds[k].values[s]) for k in ("load_amplitude", "load_duration", "load_position")}
    sol = model.solve(params, youngs_modulus=E)
    np.testing.assert_array_equal(sol.u_bc, ds["u_bc"].values[s])
    assert sol.qoi["peak_von_mises"] == ds["qoi_peak_von_mises"].values[s]


def test_round_trip_single_file(reference, tmp_path):
    _, ds = reference
    path = tmp_path / "bc.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    xr.testing.assert_identical(open_dataset(path), ds)


def test_resume_after_lost_samples_is_bit_identical(reference, case, tmp_path):
    ref_dir, ref = reference
    d = tmp_path / "c"
    shutil.copytree(ref_dir, d)
    for s in (1, 4, 7):  # as if the campaign had been killed before these were written
        shard_path(d, s).unlink()
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, show_progress=False)
    assert (rep.n_done_before, rep.n_computed) == (5, 3)
    xr.testing.assert_identical(open_dataset(d), ref)


def test_extension_keeps_existing_samples(reference, case, tmp_path):
    _, ref = reference
    d = tmp_path / "c"
    run_campaign(case, d, n_samples=4, replicates=2, seed=3, show_progress=False)
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, show_progress=False)
    assert rep.n_computed == 4
    xr.testing.assert_identical(without_run_metadata(open_dataset(d)), without_run_metadata(ref))


def test_two_workers_give_the_same_dataset(reference, case, tmp_path):
    _, ref = reference
    d = tmp_path / "c"
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, workers=2, show_progress=False)
    assert rep.n_computed == 8
    xr.testing.assert_identical(without_run_metadata(open_dataset(d)), without_run_metadata(ref))


def test_refuses_another_seed_case_or_unextensible_design(reference, case, tmp_path):
    ref_dir, _ = reference
    d = tmp_path / "c"
    shutil.copytree(ref_dir, d)
    before = sorted(p.stat().st_mtime_ns for p in list_shards(d).values())
    with pytest.raises(CampaignError, match="seed"):
        run_campaign(case, d, n_samples=8, replicates=2, seed=4, show_progress=False)
    other = case.model_copy(update={"name": "other"})
    with pytest.raises(CampaignError, match="another case"):
        run_campaign(other, d, n_samples=8, replicates=2, seed=3, show_progress=False)
    with pytest.raises(CampaignError, match="replicates"):
        run_campaign(case, d, n_samples=8, replicates=4, seed=3, show_progress=False)
    assert sorted(p.stat().st_mtime_ns for p in list_shards(d).values()) == before  # nothing overwritten
    lhs = tmp_path / "lhs"
    run_campaign(case, lhs, n_samples=2, replicates=1, seed=0, design="lhs", show_progress=False)
    with pytest.raises(CampaignError, match="cannot be extended"):
        run_campaign(case, lhs, n_samples=4, replicates=1, seed=0, design="lhs", show_progress=False)


def test_failed_samples_are_recorded_and_retried(reference, case, tmp_path, monkeypatch):
    _, ref = reference
    d = tmp_path / "c"
    real = campaign_mod.solve_sample

    def flaky(task):
        if task["sample"] in (2, 5):
            return {**real({**task, "parameters": {**task["parameters"], "load_amplitude": float("nan")}}),
                    "sample": task["sample"]}
        return real(task)

    monkeypatch.setattr(campaign_mod, "solve_sample", flaky)
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, show_progress=False)
    assert sorted(rep.failures) == [2, 5]
    assert "load_amplitude" in rep.failures[2]  # the reason names what was wrong
    assert sorted(list_shards(d)) == [0, 1, 3, 4, 6, 7]
    record = json.loads((d / "failures" / "sample_000002.json").read_text())
    assert record["sample"] == 2 and "Traceback" in record["traceback"]
    assert "2 failed" in rep.summary()
    monkeypatch.setattr(campaign_mod, "solve_sample", real)
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, show_progress=False)
    assert rep.n_computed == 2 and not rep.failures
    assert not list((d / "failures").iterdir())
    xr.testing.assert_identical(without_run_metadata(open_dataset(d)), without_run_metadata(ref))


def test_corrupt_shard_is_named(reference, tmp_path):
    ref_dir, _ = reference
    d = tmp_path / "c"
    shutil.copytree(ref_dir, d)
    p = shard_path(d, 3)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DatasetError, match="sample_000003.nc is corrupt or truncated"):
        open_dataset(d)
    with pytest.raises(DatasetError, match="no dataset"):
        open_dataset(tmp_path / "empty")


def test_campaign_log_and_manifest(reference):
    d, _ = reference
    log = (d / "campaign.log").read_text()
    assert "sample 7 done" in log and "8/8 samples complete" in log
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["design"]["n_samples"] == 8 and manifest["design"]["seed"] == 3
    assert "numpy_version" in manifest


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(reference, case, tmp_path):
    """Kill a real `uqgan generate-data` process (2 workers) mid-campaign with SIGKILL, rerun the
    same command: the dataset equals the uninterrupted one bit for bit."""
    _, ref = reference
    case_file = write_case(case, tmp_path / "case.toml")
    d = tmp_path / "c"
    cmd = [sys.executable, "-m", "uqgan.cli", "-q", "generate-data", str(case_file), "--out", str(d),
           "--samples", "8", "--replicates", "2", "--seed", "3", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.time() + 120
    while len(list_shards(d)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the workers too
    proc.wait()
    n_before = len(list_shards(d))
    assert 0 < n_before < 8, "the kill should land mid-campaign"
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "8/8 samples complete" in out.stdout
    xr.testing.assert_identical(without_run_metadata(open_dataset(d)), without_run_metadata(ref))


def test_dask_local_cluster_gives_the_same_dataset(reference, case, tmp_path):
    """A real dask.distributed LocalCluster (worker processes), as a Slurm cluster would be used."""
    distributed = pytest.importorskip("distributed")
    _, ref = reference
    d = tmp_path / "c"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, scheduler=cl.scheduler_address,
                           show_progress=False)
    assert rep.n_computed == 8 and not rep.failures
    xr.testing.assert_identical(without_run_metadata(open_dataset(d)), without_run_metadata(ref))


@pytest.mark.slow
def test_a_killed_worker_is_recorded_and_the_rerun_completes(reference, case, tmp_path):
    """The OS kills a worker process (as the OOM killer would): the campaign keeps what finished,
    records the rest as failed, returns normally, and a rerun completes the same dataset."""
    import multiprocessing
    import threading

    _, ref = reference
    d = tmp_path / "c"

    def kill_a_worker():
        # the tiny case's runs take milliseconds: kill a worker while the pool is starting up
        deadline = time.time() + 60
        while time.time() < deadline:
            children = multiprocessing.active_children()
            if children:
                time.sleep(0.3)
                os.kill(children[0].pid, signal.SIGKILL)
                return
            time.sleep(0.005)

    threading.Thread(target=kill_a_worker, daemon=True).start()
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, workers=2, show_progress=False)
    assert rep.failures and all("worker process died" in why for why in rep.failures.values())
    assert rep.n_computed + len(rep.failures) == 8
    rep = run_campaign(case, d, n_samples=8, replicates=2, seed=3, workers=2, show_progress=False)
    assert not rep.failures
    xr.testing.assert_identical(without_run_metadata(open_dataset(d)), without_run_metadata(ref))


def test_full_model_seconds_times_a_run_with_a_new_field(case, monkeypatch):
    """The median of the timed runs, each with its own material field (a new factorisation)."""
    import dataclasses

    from uqgan.fem import PlateModel

    fields, walls = [], iter([0.3, 0.1, 0.2])
    real = PlateModel.solve

    def spy(self, *a, youngs_modulus=None, **kw):
        sol = real(self, *a, youngs_modulus=youngs_modulus, **kw)
        if youngs_modulus is not None:
            fields.append(youngs_modulus.copy())
            sol = dataclasses.replace(sol, wall_time_s=next(walls))
        return sol

    monkeypatch.setattr(PlateModel, "solve", spy)
    assert campaign_mod.full_model_seconds(case, repeats=3, seed=1) == 0.2
    assert len(fields) == 3 and not np.allclose(fields[0], fields[1])
