"""Helpers shared by the adversarial-generator tests (need torch only through the modules passed in)."""

from __future__ import annotations

import numpy as np


def params(ds, rows):
    """The parameters of dataset rows, as ``Generator.sample`` takes them."""
    return {k: ds[k].values[rows] for k in ("load_amplitude", "load_duration", "load_position")}


def weights(module) -> dict[str, np.ndarray]:
    """A torch module's weights as numpy copies."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
