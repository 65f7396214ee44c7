"""Small cases shared by the tests (a module, not a conftest fixture, so tests can build variants)."""

#: a 0.4 x 0.1 m plate, 2 cm P2 elements (902 dofs), 40 steps: runs in ~20 ms, deliberately
#: under-resolved (only the machinery is tested with it)
TINY = {
    "name": "tiny",
    "geometry": {"length_m": 0.4, "height_m": 0.1, "element_size_m": 0.02, "degree": 2,
                 "zone": {"x_min_m": 0.16, "x_max_m": 0.24, "y_min_m": 0.02, "y_max_m": 0.06}},
    "time": {"dt_s": 1.5e-6, "n_steps": 40, "output_stride": 4},
    "parameters": {"load_position": {"low": 0.1, "high": 0.3}},
    "random_field": {"correlation_length_m": 0.1, "max_modes": 10},
}

#: a 0.4 x 0.1 m plate, 1 cm P2 elements, Newmark at 0.5 µs for 240 steps: the submodel tests' case
SMALL = {
    "name": "small",
    "geometry": {"length_m": 0.4, "height_m": 0.1, "element_size_m": 0.01, "degree": 2,
                 "zone": {"x_min_m": 0.2, "x_max_m": 0.3, "y_min_m": 0.03, "y_max_m": 0.07}},
    "time": {"dt_s": 0.5e-6, "n_steps": 240, "output_stride": 3},
    "parameters": {"load_position": {"low": 0.1, "high": 0.3}},
    "random_field": {"correlation_length_m": 0.2},
}


def full_runs(case, n, seed=0):
    """n full-model runs of ``case`` (a CaseConfig) with random parameters and material fields,
    keeping the zone history: ``(model, solutions)`` (needs dolfinx)."""
    import numpy as np

    from uqgan.data.campaign import material_field_basis
    from uqgan.fem import PlateModel
    from uqgan.physics.random_fields import youngs_modulus_field

    model = PlateModel(case)
    psi = material_field_basis(case, model)
    rng = np.random.default_rng(seed)
    sols = []
    for _ in range(n):
        E = youngs_modulus_field(case, psi, rng.standard_normal(psi.shape[1]), model.zone.cells)
        p = {name: rng.uniform(r.low, r.high) for name, r in
             ((k, getattr(case.parameters, k)) for k in case.parameter_names)}
        sols.append(model.solve(p, youngs_modulus=E, keep_zone_history=True))
    return model, sols
