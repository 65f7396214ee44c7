"""Parameter designs for full-model campaigns (pure numpy and :mod:`scipy.stats.qmc`).

A campaign runs the full model at ``n_points`` design points of the conditioning parameters, each
``replicates`` times with a different realisation of the hidden randomness (the material field),
so ``n_samples = n_points * replicates``. Sample ``s`` is replicate ``s % R`` of design point
``s // R``: the ``R`` replicates of a point are consecutive.

Two kinds of randomness, both derived from the single campaign ``seed``:

* the design itself, drawn on the unit cube by :func:`unit_design` from ``seed`` and scaled to the
  parameter ranges by :func:`scale_to_ranges` (uniform over ``[low, high]``);
* the hidden randomness of sample ``s``, from :meth:`CampaignDesign.xi_rng`, a stream that depends
  only on ``(seed, s)`` (``SeedSequence(seed, spawn_key=(1, s))``), never on workers or run order.

Scrambled Sobol and plain Monte Carlo designs are *extensible*: the first ``n1`` points of a design
of ``n2 > n1`` points are, bit for bit, the design of ``n1`` points, so a campaign can be grown
without rerunning the samples it already has (:meth:`CampaignDesign.extends`). Latin hypercube
designs are not (the strata depend on ``n``).

Examples
--------
>>> from uqgan.config import default_case
>>> design = design_from_case(default_case(), n_samples=16, replicates=2, seed=0)
>>> design.n_points
8
>>> params = design.parameters()
>>> sorted(params)
['load_amplitude', 'load_duration', 'load_position']
>>> params["load_position"].shape
(16,)
>>> bool(params["load_position"][0] == params["load_position"][1])  # two replicates of point 0
True
>>> bigger = design_from_case(default_case(), n_samples=64, replicates=2, seed=0)
>>> bigger.extends(design)
True
"""

from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

__all__ = [
    "DESIGN_METHODS",
    "CampaignDesign",
    "design_from_case",
    "is_extensible",
    "scale_to_ranges",
    "unit_design",
]

#: design methods on the unit cube: scrambled Sobol, Latin hypercube, plain Monte Carlo
DESIGN_METHODS = ("sobol", "lhs", "mc")

_EXTENSIBLE = frozenset({"sobol", "mc"})

#: first entry of the spawn key of the per-sample streams; the design draws from ``seed`` itself
_XI_STREAM = 1
#: spawn-key head of each sample's inclusion stream (:meth:`CampaignDesign.inclusion_rng`)
_INCLUSION_STREAM = 2


def _check_method(method: Any, where: str) -> str:
    if method not in DESIGN_METHODS:
        raise ValueError(f"{where}={method!r}: invalid design method, must be one of {DESIGN_METHODS}")
    return method


def _check_int(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{where}={value!r}: must be an integer >= {minimum}, not a bool")
    try:
        out = operator.index(value)
    except TypeError:
        raise TypeError(f"{where}={value!r}: must be an integer >= {minimum}") from None
    if out < minimum:
        raise ValueError(f"{where}={out}: must be >= {minimum}")
    return out


def is_extensible(method: str) -> bool:
    """Whether designs of ``method`` are extensible (prefixes of larger designs).

    Parameters
    ----------
    method : str
        One of :data:`DESIGN_METHODS`.

    Returns
    -------
    bool
        True for ``"sobol"`` and ``"mc"``: ``unit_design(n2, d, ...)[:n1]`` equals
        ``unit_design(n1, d, ...)`` bit for bit for ``n1 < n2``. False for ``"lhs"``, whose strata
        ``[k/n, (k+1)/n)`` change with ``n``.

    Raises
    ------
    ValueError
        If ``method`` is not one of :data:`DESIGN_METHODS`.
    """
    return _check_method(method, "method") in _EXTENSIBLE


def unit_design(n_points: int, n_dims: int, *, method: str, seed: int) -> np.ndarray:
    """A design of ``n_points`` points on the unit cube ``[0, 1)^n_dims``.

    Parameters
    ----------
    n_points : int
        Number of points, >= 1. For ``"sobol"`` powers of two are best: only then do the points
        keep the balance (net) properties of Sobol' sequences, one point in each elementary
        dyadic box of volume ``1/n`` (Owen 1998; scipy warns otherwise, a warning this function
        suppresses, since extending a campaign by arbitrary counts is legitimate).
    n_dims : int
        Number of dimensions (parameters), >= 1.
    method : str, keyword-only
        ``"sobol"``: scrambled Sobol' sequence (``qmc.Sobol(d, scramble=True)``, Owen-scrambled,
        low discrepancy ``O((log n)^d / n)``); ``"lhs"``: Latin hypercube (``qmc.LatinHypercube``,
        no optimisation; each of the ``n`` equal bins of every dimension holds exactly one point,
        McKay, Beckman & Conover 1979); ``"mc"``: independent uniform points
        (``default_rng(seed).random((n, d))``, discrepancy ``O(n^-1/2)``).
    seed : int, keyword-only
        Non-negative seed. The scrambling (Sobol), permutations (LHS) or points (MC) come from
        ``np.random.default_rng(seed)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_points, n_dims)``, float64, dimensionless, every entry in ``[0, 1)``.
        For ``"sobol"`` and ``"mc"`` the result is extensible (see :func:`is_extensible`):
        the first ``n1`` rows of a design of ``n2 > n1`` points are the design of ``n1`` points,
        bit for bit, for the same ``n_dims`` and ``seed`` (and the same numpy/scipy versions).

    Raises
    ------
    ValueError
        If ``method`` is unknown, or ``n_points``, ``n_dims`` or ``seed`` are out of range.

    Examples
    --------
    >>> u = unit_design(8, 2, method="sobol", seed=1)
    >>> u.shape
    (8, 2)
    >>> bool(((u >= 0) & (u < 1)).all())
    True
    >>> bool((unit_design(4, 2, method="sobol", seed=1) == u[:4]).all())
    True
    """
    _check_method(method, "method")
    n = _check_int(n_points, "n_points", minimum=1)
    d = _check_int(n_dims, "n_dims", minimum=1)
    seed = _check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    if method == "sobol":
        # Sobol.random(n) draws the sequence in order, so a longer draw extends a shorter one
        sampler = qmc.Sobol(d, scramble=True, seed=rng)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*balance properties.*", category=UserWarning)
            out = sampler.random(n)
    elif method == "lhs":
        out = qmc.LatinHypercube(d, optimization=None, seed=rng).random(n)
    else:
        out = rng.random((n, d))
    return np.ascontiguousarray(out, dtype=np.float64)


def scale_to_ranges(unit: np.ndarray, ranges: dict[str, tuple[float, float]]) -> dict[str, np.ndarray]:
    """Scale a unit-cube design to parameter ranges: ``x = low + u (high - low)`` (uniform).

    Parameters
    ----------
    unit : numpy.ndarray
        Shape ``(n, d)``, entries in ``[0, 1]``, dimensionless (e.g. from :func:`unit_design`).
    ranges : dict of str to (float, float)
        ``d`` entries ``name -> (low, high)`` with ``low <= high``, finite, in the parameter's unit
        (``uqgan.config.PARAMETER_UNITS``). Column ``j`` of ``unit`` goes to the ``j``-th entry in
        dict order. A degenerate range ``low == high`` gives the constant ``low``.

    Returns
    -------
    dict of str to numpy.ndarray
        For each name, shape ``(n,)``, float64, in ``[low, high]``; ``u = 0`` maps to ``low``
        exactly.

    Raises
    ------
    ValueError
        If ``unit`` is not 2-D with ``d`` columns in ``[0, 1]``, or a range is not finite with
        ``low <= high``.

    Examples
    --------
    >>> out = scale_to_ranges(np.array([[0.0, 0.5], [1.0, 0.25]]), {"a": (1.0, 3.0), "b": (0.0, 8.0)})
    >>> out["a"].tolist(), out["b"].tolist()
    ([1.0, 3.0], [4.0, 2.0])
    """
    u = np.asarray(unit, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != len(ranges):
        raise ValueError(
            f"unit has shape {u.shape}: must be (n_points, {len(ranges)}), one column per entry of ranges "
            f"{list(ranges)}"
        )
    if u.size and not (np.isfinite(u).all() and u.min() >= 0.0 and u.max() <= 1.0):
        raise ValueError("unit: entries must lie in [0, 1] (use unit_design to draw them)")
    out = {}
    for j, (name, bounds) in enumerate(ranges.items()):
        low, high = _check_range(name, bounds)
        # written out rather than qmc.scale, which rejects low == high; u = 0 gives low exactly
        out[name] = low + u[:, j] * (high - low)
    return out


def _check_range(name: str, bounds: Any) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"ranges[{name!r}]={bounds!r}: must be a pair (low, high) of numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"ranges[{name!r}]=({low!r}, {high!r}): low and high must be finite")
    if high < low:
        raise ValueError(f"ranges[{name!r}]=({low!r}, {high!r}): high must be >= low (swap them)")
    return low, high


def _multiple_hint(n_samples: int, replicates: int) -> str:
    lower = (n_samples // replicates) * replicates
    upper = lower + replicates
    return f"use {lower} or {upper}" if lower >= replicates else f"use {upper} (or fewer replicates)"


@dataclass(frozen=True, kw_only=True)
class CampaignDesign:
    """The design of a full-model campaign: which parameters each sample id gets, and its seed.

    Parameters
    ----------
    n_samples : int
        Number of full-model runs, >= 1, a multiple of ``replicates``.
    replicates : int
        Runs per design point (different hidden randomness, same parameters), >= 1.
    method : str
        Unit-cube design, one of :data:`DESIGN_METHODS` (see :func:`unit_design`).
    seed : int
        Non-negative campaign seed: the design draws from ``default_rng(seed)``, sample ``s``'s
        hidden randomness from ``SeedSequence(seed, spawn_key=(1, s))`` (:meth:`xi_rng`).
    parameter_names : tuple of str
        Names of the conditioning parameters, in design-column order (unique, at least one).
    ranges : tuple of (float, float)
        ``(low, high)`` of each parameter, in its unit, ``low <= high``.

    Raises
    ------
    ValueError
        If an invariant fails; the message names the field and the fix.

    Notes
    -----
    Sample ``s`` is replicate ``s % replicates`` of design point ``s // replicates``, so the
    replicates of a point are consecutive and growing ``n_samples`` (same ``replicates``) only
    appends points. Lists given for ``parameter_names`` or ``ranges`` are stored as tuples of
    ``str`` and ``(float, float)``, so a design read back from JSON compares equal.
    """

    n_samples: int
    replicates: int
    method: str
    seed: int
    parameter_names: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        cls = type(self).__name__
        n = _check_int(self.n_samples, f"{cls}.n_samples", minimum=1)
        r = _check_int(self.replicates, f"{cls}.replicates", minimum=1)
        if n % r:
            raise ValueError(
                f"{cls}.n_samples={n} is not a multiple of replicates={r}: {_multiple_hint(n, r)}"
            )
        _check_method(self.method, f"{cls}.method")
        seed = _check_int(self.seed, f"{cls}.seed", minimum=0)
        if isinstance(self.parameter_names, str):
            raise ValueError(f"{cls}.parameter_names={self.parameter_names!r}: must be a sequence of names, not a str")
        names = tuple(self.parameter_names)
        if not names or not all(isinstance(x, str) and x for x in names):
            raise ValueError(f"{cls}.parameter_names={names!r}: must be one or more non-empty strings")
        if len(set(names)) != len(names):
            dup = sorted({x for x in names if names.count(x) > 1})
            raise ValueError(f"{cls}.parameter_names={names!r}: names must be unique, {dup} repeat")
        ranges = tuple(self.ranges)
        if len(ranges) != len(names):
            raise ValueError(
                f"{cls}.ranges has {len(ranges)} entries: must have one (low, high) per parameter name "
                f"({len(names)}: {list(names)})"
            )
        try:
            ranges = tuple(_check_range(name, b) for name, b in zip(names, ranges, strict=True))
        except ValueError as err:
            raise ValueError(f"{cls}.{err}") from None
        for field, value in (("n_samples", n), ("replicates", r), ("seed", seed),
                             ("parameter_names", names), ("ranges", ranges)):
            object.__setattr__(self, field, value)

    # ------------------------------------------------------------------ indexing

    @property
    def n_points(self) -> int:
        """Number of design points, ``n_samples // replicates``."""
        return self.n_samples // self.replicates

    def _samples(self, sample: Any) -> np.ndarray:
        s = np.asarray(sample)
        if s.dtype == bool or not np.issubdtype(s.dtype, np.integer):
            raise TypeError(f"sample={sample!r}: must be an integer sample id or an integer array of them")
        if s.size and (s.min() < 0 or s.max() >= self.n_samples):
            raise ValueError(
                f"sample ids must lie in [0, n_samples) = [0, {self.n_samples}); got "
                f"min {s.min()}, max {s.max()} (grow the design with a larger n_samples)"
            )
        return s

    def point_of(self, sample: int | np.ndarray) -> int | np.ndarray:
        """Design point of sample id(s): ``sample // replicates``.

        Parameters
        ----------
        sample : int or numpy.ndarray of int
            Sample id(s) in ``[0, n_samples)``.

        Returns
        -------
        int or numpy.ndarray
            Point index(es) in ``[0, n_points)``, an ``int`` for a scalar input, else an array of
            the same shape.

        Raises
        ------
        ValueError
            If a sample id is out of range.
        """
        s = self._samples(sample)
        out = s // self.replicates
        return int(out) if out.ndim == 0 else out

    def replicate_of(self, sample: int | np.ndarray) -> int | np.ndarray:
        """Replicate index of sample id(s): ``sample % replicates``, so ``s = point * R + replicate``.

        Parameters and returns as :meth:`point_of`, with values in ``[0, replicates)``.
        """
        s = self._samples(sample)
        out = s % self.replicates
        return int(out) if out.ndim == 0 else out

    # ------------------------------------------------------------------ values

    def points(self) -> dict[str, np.ndarray]:
        """Parameter values of the design points.

        Returns
        -------
        dict of str to numpy.ndarray
            For each name in ``parameter_names`` order, shape ``(n_points,)``, float64, in the
            parameter's unit, uniform design over ``[low, high]``.
        """
        unit = unit_design(self.n_points, len(self.parameter_names), method=self.method, seed=self.seed)
        return scale_to_ranges(unit, dict(zip(self.parameter_names, self.ranges, strict=True)))

    def parameters(self) -> dict[str, np.ndarray]:
        """Parameter values of every sample: each design point repeated for its replicates.

        Returns
        -------
        dict of str to numpy.ndarray
            For each name, shape ``(n_samples,)``, float64, in the parameter's unit; entry ``s`` is
            ``points()[name][s // replicates]``.
        """
        return {name: np.repeat(v, self.replicates) for name, v in self.points().items()}

    def xi_rng(self, sample: int) -> np.random.Generator:
        """The random generator of sample ``sample``'s hidden randomness (e.g. its material field).

        ``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, sample)))``: the stream
        depends only on ``(seed, sample)``, not on which worker runs the sample or in what order,
        and is statistically independent of other samples' streams and of the design (which draws
        from ``seed`` without spawn key; the leading ``1`` keeps them apart) (numpy
        ``SeedSequence``, O'Neill's hash-based seeding).

        Parameters
        ----------
        sample : int
            Sample id in ``[0, n_samples)``.

        Returns
        -------
        numpy.random.Generator
            A fresh generator; calling again gives a new generator with the same stream.

        Raises
        ------
        ValueError
            If ``sample`` is out of range.
        """
        s = self._samples(sample)
        if s.ndim != 0:
            raise TypeError(f"sample={sample!r}: xi_rng takes one integer sample id")
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_XI_STREAM, int(s))))

    def inclusion_rng(self, sample: int) -> np.random.Generator:
        """The random generator of sample ``sample``'s inclusions (:mod:`uqgan.physics.inclusions`).

        ``SeedSequence(seed, spawn_key=(2, sample))``: like :meth:`xi_rng` it depends only on
        ``(seed, sample)``, and it is a stream of its own, so adding inclusions to a case leaves its
        material fields (``xi``) unchanged bit for bit.
        """
        s = self._samples(sample)
        if s.ndim != 0:
            raise TypeError(f"sample={sample!r}: inclusion_rng takes one integer sample id")
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_INCLUSION_STREAM, int(s))))

    def extends(self, other: CampaignDesign) -> bool:
        """Whether ``self`` is ``other`` grown to at least as many samples.

        True when method, seed, replicates, parameter names and ranges agree, the method is
        extensible (:func:`is_extensible`) and ``self.n_samples >= other.n_samples``; then the
        samples ``other`` has keep the same parameters bit for bit and the same :meth:`xi_rng`
        streams, so only samples ``other.n_samples ...`` need running.

        Parameters
        ----------
        other : CampaignDesign
            The existing (smaller) design.

        Returns
        -------
        bool
        """
        if not isinstance(other, CampaignDesign):
            raise TypeError(f"other={other!r}: must be a CampaignDesign")
        return (
            is_extensible(self.method)
            and self.method == other.method
            and self.seed == other.seed
            and self.replicates == other.replicates
            and self.parameter_names == other.parameter_names
            and self.ranges == other.ranges
            and self.n_samples >= other.n_samples
        )

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the campaign manifest (floats round-trip exactly through ``json``).

        Returns
        -------
        dict
            Keys ``n_samples``, ``replicates``, ``method``, ``seed``, ``parameter_names`` (list of
            str) and ``ranges`` (list of ``[low, high]``).
        """
        return {
            "n_samples": self.n_samples,
            "replicates": self.replicates,
            "method": self.method,
            "seed": self.seed,
            "parameter_names": list(self.parameter_names),
            "ranges": [[low, high] for low, high in self.ranges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CampaignDesign:
        """Rebuild a design from :meth:`to_dict` output (e.g. read back from JSON).

        Raises
        ------
        ValueError
            If keys are missing or unknown, or an invariant fails.
        """
        keys = ("n_samples", "replicates", "method", "seed", "parameter_names", "ranges")
        missing = [k for k in keys if k not in data]
        unknown = sorted(set(data) - set(keys))
        if missing or unknown:
            raise ValueError(
                f"{cls.__name__}.from_dict: missing keys {missing}, unknown keys {unknown}; "
                f"expected exactly {list(keys)}"
            )
        return cls(
            n_samples=data["n_samples"],
            replicates=data["replicates"],
            method=data["method"],
            seed=data["seed"],
            parameter_names=tuple(data["parameter_names"]),
            ranges=tuple(tuple(r) for r in data["ranges"]),
        )


def design_from_case(case: Any, *, n_samples: int, replicates: int, method: str = "sobol", seed: int) -> CampaignDesign:
    """A campaign design over the parameter ranges of a case.

    Parameters
    ----------
    case : uqgan.config.CaseConfig
        Its ``parameters`` give the names (field order of ``ParametersConfig``) and the ranges
        ``(low, high)`` (units in ``uqgan.config.PARAMETER_UNITS``).
    n_samples, replicates, method, seed
        As in :class:`CampaignDesign`.

    Returns
    -------
    CampaignDesign

    Examples
    --------
    >>> from uqgan.config import default_case
    >>> design_from_case(default_case(), n_samples=8, replicates=1, seed=3).parameter_names
    ('load_amplitude', 'load_duration', 'load_position')
    """
    params = case.parameters
    names = params.names
    ranges = tuple((getattr(params, n).low, getattr(params, n).high) for n in names)
    return CampaignDesign(
        n_samples=n_samples, replicates=replicates, method=method, seed=seed, parameter_names=names, ranges=ranges
    )
