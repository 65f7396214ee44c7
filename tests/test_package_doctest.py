"""The package docstring is the public workflow; it must run as written (doctest)."""

from __future__ import annotations

import doctest

import uqgan
import uqgan.config


def test_package_docstring_runs():
    # the workflow's generator part on synthetic data; FEniCSx steps are comments
    result = doctest.testmod(uqgan, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_config_docstring_runs():
    result = doctest.testmod(uqgan.config)
    assert result.attempted >= 3 and result.failed == 0
