"""Data: the parameter design, the BC dataset schema, full-model campaigns and their analysis.

================================ =================================================================
:mod:`~uqgan.data.design`        seeded QMC designs over the case's parameter ranges (scipy.stats.qmc)
:mod:`~uqgan.data.dataset`       the BC dataset schema, shards, ``open_dataset``, atomic writes
:mod:`~uqgan.data.campaign`      resumable full-model campaigns (local processes or Dask)
:mod:`~uqgan.data.analysis`      the variance split of a campaign with replicates
:mod:`~uqgan.data.synthetic`     synthetic BC data with a known law, for tests and docs
================================ =================================================================
"""
