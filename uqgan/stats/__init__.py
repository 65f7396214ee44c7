"""Statistics: estimators with confidence intervals and standard errors, and distances between samples.

================================ =================================================================
:mod:`~uqgan.stats.estimators`   mean, standard deviation, quantiles, exceedance probabilities,
                                 multi-fidelity (MFMC) and prediction-powered (PPI++) estimates
:mod:`~uqgan.stats.metrics`      the one energy distance, MMD, Fréchet distance, KS, coverage
================================ =================================================================
"""
