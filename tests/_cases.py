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
