"""Physics as small pure numpy functions: no FEniCSx, no files.

=============================== ==================================================================
:mod:`~uqgan.physics.material`  isotropic elasticity (Lamé parameters, wave speeds, von Mises in
                                plane strain) and the load's half-sine pulse
:mod:`~uqgan.physics.random_fields` Karhunen–Loève bases of Gaussian random fields and the lognormal
                                Young's-modulus field built on them
:mod:`~uqgan.physics.timestepping` Newmark and generalized-α coefficients and integrators
:mod:`~uqgan.physics.qoi`       the zone QoIs (their specs and the running space-time maxima)
=============================== ==================================================================
"""
