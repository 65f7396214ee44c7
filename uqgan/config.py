"""Frozen, validated configurations and their TOML form.

A *case* describes one physical problem: the plate, the submodel zone, the material, the load,
the time integration and the ranges of the conditioning parameters. Every field carries its unit
in its name (``dt_s``, ``youngs_modulus_pa``). Configs are pydantic v2 models with
``frozen=True, extra="forbid"``: an unknown key, a wrong type or a value out of range raises
:class:`ConfigError` with one line per problem naming the field, the bad value and the fix.

Examples
--------
>>> from uqgan.config import default_case, case_to_toml, case_from_toml
>>> case = default_case()
>>> case.geometry.degree
2
>>> case_from_toml(case_to_toml(case)) == case
True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "CampaignConfig",
    "CaseConfig",
    "ConfigError",
    "GeometryConfig",
    "LoadConfig",
    "MaterialConfig",
    "MonteCarloConfig",
    "ParameterRange",
    "ParametersConfig",
    "RandomFieldConfig",
    "RandomInclusionsConfig",
    "SubmodelConfig",
    "ThresholdsConfig",
    "TagsConfig",
    "TimeConfig",
    "TrainConfig",
    "ZoneConfig",
    "case_from_toml",
    "case_to_toml",
    "default_case",
    "error_lines",
    "load_case",
    "restrict_ranges",
    "write_case",
]


class ConfigError(ValueError):
    """A configuration is invalid. ``str(err)`` is one line per problem, each naming the field."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__("\n".join(where + p for p in self.problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ZoneConfig(_Frozen):
    """The submodel zone: an axis-aligned rectangle inside the plate, optionally with a hole."""

    x_min_m: NonNegFloat = Field(0.55, description="left edge of the submodel zone [m]")
    x_max_m: PositiveFloat = Field(0.65, description="right edge of the submodel zone [m]")
    y_min_m: NonNegFloat = Field(0.08, description="bottom edge of the submodel zone [m]")
    y_max_m: PositiveFloat = Field(0.16, description="top edge of the submodel zone [m]")
    hole_radius_m: NonNegFloat = Field(
        0.0, description="radius of a circular hole at the zone centre [m]; 0 = no hole (needs gmsh if > 0)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ZoneConfig:
        if self.x_max_m <= self.x_min_m:
            raise ValueError(f"x_max_m={self.x_max_m} must be > x_min_m={self.x_min_m}")
        if self.y_max_m <= self.y_min_m:
            raise ValueError(f"y_max_m={self.y_max_m} must be > y_min_m={self.y_min_m}")
        half = 0.5 * min(self.x_max_m - self.x_min_m, self.y_max_m - self.y_min_m)
        if self.hole_radius_m >= 0.8 * half:
            raise ValueError(
                f"hole_radius_m={self.hole_radius_m} must be < {0.8 * half:.4g} "
                "(80 % of half the zone's smaller side, to leave material around the hole)"
            )
        return self


TagRef = int | str
"""A physical group of a mesh file: its name (gmsh ``Physical ... ("name")``) or its number."""


class TagsConfig(_Frozen):
    """Physical groups of a mesh file (names or numbers) that tag the zone and the boundary conditions."""

    zone: TagRef = Field("zone", description="cell group of the submodel zone (its boundary is every facet between "
                                             "it and the rest)")
    clamped: TagRef | list[TagRef] = Field("clamped", description="facet group(s) with zero displacement")
    loaded: TagRef | list[TagRef] = Field("loaded", description="facet group(s) that carry the pressure pulse")

    @field_validator("clamped", "loaded")
    @classmethod
    def _non_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one physical group (a name or a number)")
        return v

    def as_lists(self) -> dict[str, list[TagRef]]:
        """``{"zone": [...], "clamped": [...], "loaded": [...]}``, each a list."""
        return {k: (list(v) if isinstance(v, list) else [v]) for k, v in
                (("zone", self.zone), ("clamped", self.clamped), ("loaded", self.loaded))}


class GeometryConfig(_Frozen):
    """The plate (plane strain), its mesh and the submodel zone; or a tagged mesh file (``mesh``)."""

    length_m: PositiveFloat = Field(1.0, description="plate length along x [m]")
    height_m: PositiveFloat = Field(0.25, description="plate height along y [m]; bottom edge clamped")
    element_size_m: PositiveFloat = Field(
        0.01, description="element size [m]; see docs/resolution.md for the choice from the wavelength"
    )
    degree: int = Field(2, ge=1, le=3, description="Lagrange degree of the displacement (P2 resolves the pulse)")
    zone: ZoneConfig = Field(default_factory=ZoneConfig)
    mesh: str | None = Field(
        None, description="tagged mesh file (gmsh .msh v2/v4 or XDMF) in metres, absolute or relative to the case "
                          "file; replaces the built-in plate (length_m, height_m and zone are then unused)")
    dimension: Literal[2, 3] = Field(
        2, description="2 = plane strain (triangles, quadrilaterals), 3 = solid (tetrahedra, hexahedra)")
    tags: TagsConfig | None = Field(None, description="physical groups of the mesh file (needs mesh)")

    @property
    def is_mesh_file(self) -> bool:
        """True when the structure comes from a tagged mesh file, not the built-in plate."""
        return self.mesh is not None

    @model_validator(mode="after")
    def _zone_fits(self) -> GeometryConfig:
        if self.mesh is not None or self.tags is not None:
            if self.mesh is None or self.tags is None:
                raise ValueError("mesh and [geometry.tags] go together: give both (a tagged mesh file) or neither "
                                 "(the built-in plate)")
            return self
        if self.dimension != 2:
            raise ValueError("dimension=3 needs a mesh file (geometry.mesh): the built-in plate is 2-D")
        z, h = self.zone, self.element_size_m
        if not (0 < z.x_min_m and z.x_max_m < self.length_m and 0 < z.y_min_m and z.y_max_m < self.height_m):
            raise ValueError(
                f"zone [{z.x_min_m}, {z.x_max_m}] x [{z.y_min_m}, {z.y_max_m}] m must lie strictly inside "
                f"the plate [0, {self.length_m}] x [0, {self.height_m}] m"
            )
        for name, size in (("length_m", self.length_m), ("height_m", self.height_m)):
            if not _on_grid(size, h):
                raise ValueError(f"{name}={size} must be a multiple of element_size_m={h}")
        if z.hole_radius_m == 0:  # structured mesh: the zone's edges must be mesh lines
            for name in ("x_min_m", "x_max_m", "y_min_m", "y_max_m"):
                value = getattr(z, name)
                if not _on_grid(value, h):
                    raise ValueError(
                        f"zone.{name}={value} is not on the mesh grid: use a multiple of "
                        f"element_size_m={h} so the zone's boundary follows element edges"
                    )
        return self

    @property
    def zone_area_fraction(self) -> float:
        """Area of the zone over the area of the plate (the hole, if any, is no material in either)."""
        z = self.zone
        hole = math.pi * z.hole_radius_m**2
        zone_area = (z.x_max_m - z.x_min_m) * (z.y_max_m - z.y_min_m) - hole
        return zone_area / (self.length_m * self.height_m - hole)

    @property
    def nx(self) -> int:
        return round(self.length_m / self.element_size_m)

    @property
    def ny(self) -> int:
        return round(self.height_m / self.element_size_m)


def _on_grid(value: float, h: float) -> bool:
    q = value / h
    return math.isfinite(q) and math.isclose(q, round(q), abs_tol=1e-9)


class MaterialConfig(_Frozen):
    """Linear isotropic elastic material (nominal values; a random field may modulate E)."""

    youngs_modulus_pa: PositiveFloat = Field(210e9, description="Young's modulus E [Pa]")
    poisson_ratio: float = Field(0.3, gt=-1.0, lt=0.5, description="Poisson's ratio nu, in (-1, 0.5)")
    density_kg_m3: PositiveFloat = Field(7850.0, description="mass density rho [kg/m^3]")
    rayleigh_mass_1_per_s: NonNegFloat = Field(0.0, description="Rayleigh damping C = a M + b K: a [1/s]")
    rayleigh_stiffness_s: NonNegFloat = Field(0.0, description="Rayleigh damping C = a M + b K: b [s]")


class RandomFieldConfig(_Frozen):
    """Hidden randomness: a lognormal Young's-modulus field outside the zone (Karhunen–Loève)."""

    coefficient_of_variation: float = Field(
        0.5, ge=0.0, le=2.0, allow_inf_nan=False,
        description="CoV of E outside the zone (std / mean of the lognormal field); 0 = deterministic material",
    )
    correlation_length_m: PositiveFloat = Field(
        0.5, description="correlation length of the underlying Gaussian field [m]"
    )
    kernel: Literal["squared-exponential", "matern"] = Field(
        "squared-exponential", description='covariance kernel: "squared-exponential" or "matern"'
    )
    matern_nu: float = Field(1.5, gt=0, allow_inf_nan=False, description="smoothness nu of the Matern kernel")
    energy_fraction: float = Field(
        0.99, gt=0.0, le=1.0,
        description="keep the fewest KL modes that carry this fraction of the field's variance",
    )
    max_modes: int = Field(100, ge=1, le=2000, description="upper bound on the number of KL modes")


class RandomInclusionsConfig(_Frozen):
    """Hidden randomness: soft circular inclusions (defects) outside the zone, drawn per replicate.

    ``count`` circles, radii uniform in ``radius_range_m``, centres uniform over the plate by
    rejection (each circle inside the plate, ``margin_m`` clear of the zone, of the clamped bottom
    edge, of the loaded top edge and of the other circles); a cell whose midpoint lies inside a
    circle has its Young's modulus multiplied by ``stiffness_ratio`` (uqgan/physics/inclusions.py).
    """

    count: int = Field(0, ge=0, le=50, description="number of inclusions per replicate; 0 = none")
    radius_range_m: tuple[PositiveFloat, PositiveFloat] = Field(
        (0.01, 0.03), description="radii are uniform in [low, high] [m]")
    stiffness_ratio: float = Field(
        1e-3, gt=0, le=1e3, allow_inf_nan=False,
        description="E inside an inclusion / E outside it (1e-3: a near-void, > 1: a hard inclusion)")
    margin_m: NonNegFloat = Field(
        0.02, description="least clearance of an inclusion from the zone, the clamped and loaded edges and the "
                          "other inclusions [m]")
    region_m: tuple[float, float, float, float] | None = Field(
        None, description="[x_min, x_max, y_min, y_max]: the box the centres are drawn in (still inside the plate "
                          "and clear of the zone and the edges) [m]; None = the whole plate")

    @model_validator(mode="after")
    def _ordered(self) -> RandomInclusionsConfig:
        low, high = self.radius_range_m
        if high < low:
            raise ValueError(f"radius_range_m=[{low}, {high}]: high must be >= low (e.g. [{high}, {low}])")
        return self

    @field_validator("region_m")
    @classmethod
    def _box(cls, v):
        if v is not None and (not all(math.isfinite(x) for x in v) or v[1] <= v[0] or v[3] <= v[2]):
            raise ValueError("must be four finite numbers [x_min, x_max, y_min, y_max] with x_max > x_min and "
                             "y_max > y_min")
        return v


class ThresholdsConfig(_Frozen):
    """Thresholds of the exceedance probabilities P(QoI > t) that Monte Carlo estimates."""

    peak_von_mises_pa: list[PositiveFloat] = Field(
        default_factory=lambda: [2.5e5, 4.0e5], description="thresholds of the zone's peak von Mises stress [Pa]")
    peak_displacement_m: list[PositiveFloat] = Field(
        default_factory=lambda: [5e-8, 1e-7], description="thresholds of the zone's peak displacement [m]")
    peak_strain_energy_j_per_m: list[PositiveFloat] = Field(
        default_factory=list, description="thresholds of the zone's peak strain energy [J/m]")

    def by_qoi(self) -> dict[str, list[float]]:
        """QoI name -> thresholds (for :func:`uqgan.montecarlo.qoi_statistics`)."""
        return {"peak_von_mises": list(self.peak_von_mises_pa), "peak_displacement": list(self.peak_displacement_m),
                "peak_strain_energy": list(self.peak_strain_energy_j_per_m)}


class LoadConfig(_Frozen):
    """A pressure pulse on the top edge: half-sine in time, raised-cosine footprint in space."""

    footprint_width_m: PositiveFloat = Field(
        0.05, description="width of the raised-cosine pressure footprint on the top edge [m]"
    )
    origin_m: list[float] | None = Field(
        None, description="mesh cases: the footprint centre is origin_m + load_position * direction [m] "
                          "(a point on or near the loaded surface; docs/mesh.md)")
    direction: list[float] | None = Field(
        None, description="mesh cases: direction along which load_position moves the footprint centre "
                          "(normalised; it should lie in the loaded surface)")

    @field_validator("origin_m", "direction")
    @classmethod
    def _finite_vector(cls, v):
        if v is not None and (len(v) not in (2, 3) or not all(math.isfinite(x) for x in v)):
            raise ValueError("must be 2 or 3 finite numbers (one per coordinate)")
        return v

    def centre_m(self, position_m: float) -> list[float]:
        """The footprint centre ``origin_m + position_m * direction / |direction|`` [m] (mesh cases)."""
        norm = math.sqrt(sum(d * d for d in self.direction))
        return [o + position_m * d / norm for o, d in zip(self.origin_m, self.direction, strict=True)]


class TimeConfig(_Frozen):
    """Time integration: implicit Newmark / generalized-alpha, or explicit central differences."""

    dt_s: PositiveFloat = Field(0.5e-6, description="time step [s]; see docs/resolution.md")
    n_steps: int = Field(600, ge=1, description="number of time steps")
    output_stride: int = Field(3, ge=1, description="store the boundary history every output_stride steps")
    scheme: Literal["newmark", "generalized-alpha", "central-difference"] = Field(
        "newmark",
        description='"newmark" (average acceleration: energy conserving), "generalized-alpha" '
        '(damps high frequencies) or "central-difference" (explicit, lumped mass; dt_s below the '
        "mesh's stability limit; docs/schemes.md)",
    )
    spectral_radius: float = Field(
        0.8, ge=0.0, le=1.0, description="generalized-alpha high-frequency spectral radius rho_inf in [0, 1]"
    )
    mass_lumping: Literal["hrz", "cjrt"] = Field(
        "hrz",
        description='the explicit full model (scheme = "central-difference"; the chain\'s submodel has its own, '
        'submodel.mass_lumping): "hrz" (the P_k space, HRZ diagonal scaling; row sums for P1) or "cjrt" (degree 2 on '
        "triangles: P2 plus a cubic bubble with nodes at vertices, edge midpoints and centroid, lumped by the exact "
        "7-point rule: P2's dispersion accuracy with one more node per cell; cost and accuracy in docs/schemes.md)",
    )

    @property
    def end_time_s(self) -> float:
        return self.dt_s * self.n_steps


class SubmodelConfig(_Frozen):
    """How the Monte Carlo chain's submodel steps the zone (docs/schemes.md, "The chain's submodel")."""

    scheme: Literal["central-difference", "full-model"] = Field(
        "central-difference",
        description='"central-difference" (explicit, lumped mass, at the zone\'s own stable step: the zone keeps '
        'the nominal E, so its limit is known at set-up; the fast chain) or "full-model" (the full model\'s scheme '
        "and dt_s: reproduces the full model's zone on its own history to round-off)",
    )
    time_step_fraction: float = Field(
        0.9, gt=0.0, le=1.0, allow_inf_nan=False,
        description="central-difference: the submodel's step is the largest output spacing / k (k integer) below "
                    "this fraction of the zone's stability limit",
    )
    mass_lumping: Literal["auto", "hrz", "cjrt"] = Field(
        "auto",
        description='central-difference: the zone\'s lumped mass, "auto" (CJRT where the zone is P2 on triangles, '
        'else HRZ), "hrz" or "cjrt" (P2 plus bubble, triangles only: the chain closer to the Newmark full model '
        "than with HRZ, at a higher cost per sample; both measured in docs/schemes.md)",
    )


class ParameterRange(_Frozen):
    """Range of one conditioning parameter (uniform over [low, high] in designs)."""

    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    nominal: float | None = Field(None, allow_inf_nan=False, description="value of single runs; default midpoint")

    @model_validator(mode="after")
    def _ordered(self) -> ParameterRange:
        if self.high < self.low:
            raise ValueError(f"high={self.high} must be >= low={self.low}")
        if self.nominal is not None and not (self.low <= self.nominal <= self.high):
            raise ValueError(f"nominal={self.nominal} must lie in [low, high] = [{self.low}, {self.high}]")
        return self

    @property
    def nominal_value(self) -> float:
        return 0.5 * (self.low + self.high) if self.nominal is None else self.nominal


#: resolution thresholds of the shortest pulse (docs/resolution.md): P_k nodes across the shear
#: pulse length c_s * tau_min, and time steps per pulse duration
RESOLUTION_MIN_NODES_PER_PULSE = 9
RESOLUTION_MIN_STEPS_PER_PULSE = 30

#: units of each conditioning parameter (fixed by the physics of the default case)
PARAMETER_UNITS = {"load_amplitude": "Pa", "load_duration": "s", "load_position": "m"}


class ParametersConfig(_Frozen):
    """Conditioning parameters: what the generator is told. Units: Pa, s, m."""

    load_amplitude: ParameterRange = Field(
        ParameterRange(low=0.5e6, high=2.0e6, nominal=1.0e6),
        description="peak pressure of the pulse [Pa]; the response is linear in it",
    )
    load_duration: ParameterRange = Field(
        ParameterRange(low=15e-6, high=30e-6, nominal=20e-6), description="half-sine pulse duration [s]"
    )
    load_position: ParameterRange = Field(
        ParameterRange(low=0.1, high=0.9, nominal=0.3), description="x of the footprint centre on the top edge [m]"
    )

    @field_validator("load_amplitude", "load_duration")
    @classmethod
    def _positive(cls, v: ParameterRange) -> ParameterRange:
        if v.low <= 0:
            raise ValueError(f"low={v.low} must be > 0")
        return v

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters' names, in their declared order (the order of every design and dataset)."""
        return tuple(type(self).model_fields)

    def nominal(self) -> dict[str, float]:
        """The nominal value of every parameter, by name."""
        return {name: getattr(self, name).nominal_value for name in self.names}

    def ranges(self) -> dict[str, tuple[float, float]]:
        """``{name: (low, high)}`` of every parameter, in its unit (:data:`PARAMETER_UNITS`)."""
        return {name: (getattr(self, name).low, getattr(self, name).high) for name in self.names}


class CaseConfig(_Frozen):
    """A complete case: everything the full model and the submodel need."""

    name: str = Field("plate_impact", min_length=1, description="case name (stored with every output)")
    geometry: GeometryConfig = Field(default_factory=GeometryConfig)
    material: MaterialConfig = Field(default_factory=MaterialConfig)
    load: LoadConfig = Field(default_factory=LoadConfig)
    time: TimeConfig = Field(default_factory=TimeConfig)
    submodel: SubmodelConfig = Field(default_factory=SubmodelConfig)
    parameters: ParametersConfig = Field(default_factory=ParametersConfig)
    random_field: RandomFieldConfig = Field(default_factory=RandomFieldConfig)
    random_inclusions: RandomInclusionsConfig = Field(default_factory=RandomInclusionsConfig)
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The conditioning parameters' names, in the order of every design and dataset."""
        return self.parameters.names

    @model_validator(mode="after")
    def _consistent(self) -> CaseConfig:
        p, g = self.parameters.load_position, self.geometry
        if self.time.mass_lumping == "cjrt":
            if self.time.scheme != "central-difference":
                raise ValueError(f'time.mass_lumping="cjrt" has no effect with time.scheme="{self.time.scheme}": it '
                                 'lumps the explicit full model\'s mass only (the chain\'s submodel has its own, '
                                 'submodel.mass_lumping); set time.mass_lumping = "hrz" or time.scheme = '
                                 '"central-difference"')
            if g.degree != 2 or g.dimension != 2:
                raise ValueError(f'time.mass_lumping="cjrt" with geometry.degree={g.degree}, geometry.dimension='
                                 f'{g.dimension}: the CJRT element is P2 on triangles; set geometry.degree = 2 on a '
                                 '2-D mesh, or mass_lumping = "hrz" (tetrahedra, P1, P3)')
        if self.submodel.mass_lumping == "cjrt":
            if self.submodel.scheme != "central-difference":
                raise ValueError(f'submodel.mass_lumping="cjrt" has no effect with submodel.scheme='
                                 f'"{self.submodel.scheme}" (the full model\'s scheme and space): set '
                                 'submodel.mass_lumping = "auto" or submodel.scheme = "central-difference"')
            if g.degree != 2 or g.dimension != 2:
                raise ValueError(f'submodel.mass_lumping="cjrt" with geometry.degree={g.degree}, geometry.dimension='
                                 f'{g.dimension}: the CJRT element is P2 on triangles; set submodel.mass_lumping = '
                                 '"auto" (HRZ here) or "hrz"')
        half = 0.5 * self.load.footprint_width_m
        if g.is_mesh_file:  # the footprint's place on the surface is checked against the mesh by the model
            ld = self.load
            if ld.origin_m is None or ld.direction is None:
                raise ValueError("a mesh case needs load.origin_m and load.direction: the footprint centre is "
                                 "origin_m + load_position * direction (docs/mesh.md)")
            for name in ("origin_m", "direction"):
                if len(getattr(ld, name)) != g.dimension:
                    raise ValueError(f"load.{name}={getattr(ld, name)} has {len(getattr(ld, name))} coordinates: "
                                     f"give {g.dimension} (geometry.dimension={g.dimension})")
            if math.sqrt(sum(d * d for d in ld.direction)) == 0:
                raise ValueError("load.direction=[0, ...]: must be a non-zero vector")
            if self.random_inclusions.count:
                raise ValueError("random_inclusions.count > 0 needs the built-in plate (geometry.mesh is set): "
                                 "set count = 0 for a mesh case")
            return self
        if p.low - half < 0 or p.high + half > g.length_m:
            raise ValueError(
                f"parameters.load_position [{p.low}, {p.high}] m with footprint_width_m="
                f"{self.load.footprint_width_m} puts the footprint off the top edge [0, {g.length_m}] m"
            )
        inc = self.random_inclusions
        if inc.count:
            free = g.height_m - 2 * (inc.radius_range_m[1] + inc.margin_m)
            if free <= 0:
                raise ValueError(
                    f"random_inclusions: an inclusion of radius {inc.radius_range_m[1]} m with margin_m={inc.margin_m}"
                    f" does not fit between the clamped and loaded edges of the {g.height_m} m high plate: lower "
                    "radius_range_m or margin_m")
        return self

    def resolution(self) -> dict[str, Any]:
        """How well the mesh and the time step resolve the shortest pulse.

        Returns wave speeds ``c_p``, ``c_s`` [m/s], ``nodes_per_shear_pulse`` = degree · c_s τ_min / h
        (nodes across the shear wave's pulse length), ``steps_per_pulse`` = τ_min / dt, the P-wave
        Courant number per node spacing, and ``warnings``: the thresholds (≥ 9 nodes, ≥ 30 steps)
        are those under which the default case's boundary history stays within ~3 % of converged
        (docs/resolution.md, measured with pipelines/resolution_study.py).
        """
        from .physics.material import wave_speeds

        mat, g, t = self.material, self.geometry, self.time
        c_p, c_s = (float(c) for c in wave_speeds(mat.youngs_modulus_pa, mat.poisson_ratio, mat.density_kg_m3))
        tau = self.parameters.load_duration.low
        nodes = g.degree * c_s * tau / g.element_size_m
        steps = tau / t.dt_s
        warnings = []
        if nodes < RESOLUTION_MIN_NODES_PER_PULSE * (1 - 1e-9):
            warnings.append(
                f"geometry.element_size_m={g.element_size_m}: only {nodes:.1f} P{g.degree} nodes across the shortest "
                f"shear pulse (c_s * load_duration.low = {c_s * tau:.3g} m); use <= "
                f"{g.degree * c_s * tau / RESOLUTION_MIN_NODES_PER_PULSE:.3g} m for >= "
                f"{RESOLUTION_MIN_NODES_PER_PULSE}")
        if steps < RESOLUTION_MIN_STEPS_PER_PULSE * (1 - 1e-9):
            warnings.append(
                f"time.dt_s={t.dt_s}: only {steps:.1f} steps per shortest pulse ({tau:.3g} s); use dt_s <= "
                f"{tau / RESOLUTION_MIN_STEPS_PER_PULSE:.3g} for >= {RESOLUTION_MIN_STEPS_PER_PULSE}")
        return {"c_p_m_per_s": c_p, "c_s_m_per_s": c_s, "nodes_per_shear_pulse": nodes, "steps_per_pulse": steps,
                "courant_p": c_p * t.dt_s * g.degree / g.element_size_m, "warnings": warnings}

    def check_parameters(self, values: dict[str, float]) -> dict[str, float]:
        """Validate one parameter point against the declared ranges; returns a plain float dict."""
        names = list(self.parameters.names)
        unknown = sorted(set(values) - set(names))
        missing = sorted(set(names) - set(values))
        problems = [f"parameter {u!r} is unknown: allowed are {names}" for u in unknown]
        problems += [f"parameter {m!r} is missing: give all of {names}" for m in missing]
        out = {}
        for name in names:
            if name not in values:
                continue
            r = getattr(self.parameters, name)
            try:
                v = float(values[name])
            except (TypeError, ValueError):
                problems.append(f"parameters.{name}={values[name]!r}: not a number; must lie in "
                                f"[{r.low}, {r.high}] {PARAMETER_UNITS[name]}")
                continue
            if not (math.isfinite(v) and r.low <= v <= r.high):
                problems.append(f"parameters.{name}={v}: must lie in [{r.low}, {r.high}] {PARAMETER_UNITS[name]}")
            out[name] = v
        if problems:
            raise ConfigError(problems)
        return out


def default_case() -> CaseConfig:
    """The built-in default case: a steel plate struck on its top edge (simulations/plate_impact/README.md)."""
    return CaseConfig()


# --------------------------------------------------------------------------------------------
# TOML in and out


def _format_loc(loc: tuple) -> str:
    """Pydantic's location as the TOML path a user edits: ``a.b[0]`` for the first item of list ``a.b``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<case>"


def error_lines(err: ValidationError, *, name=_format_loc, unknown=None, hint=None,
                root: str | None = None) -> list[str]:
    """One line per problem of a pydantic ValidationError, each naming the field: ``name=value: rule``.

    The one formatter of every config's errors (cases, run configs, generator configs).

    Parameters
    ----------
    err : the ValidationError
    name : ``loc`` tuple -> the field's name as the user writes it (default ``a.b[0]``, a TOML path)
    unknown : ``loc`` -> the message for an unknown field (default: remove it or fix its spelling)
    hint : ``loc`` -> text appended to a bad value's line (e.g. the field's meaning and default)
    root : the prefix of a whole-model check's message (its message names the fields), or None
    """
    lines = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            lines.append(unknown(loc) if unknown else f"{name(loc)}: unknown key (remove it or fix its spelling)")
        elif e["type"] == "missing":
            lines.append(f"{name(loc)}: required key is missing")
        elif not loc or isinstance(e["input"], dict):  # a cross-field check: its message names the fields
            lines.append(f"{name(loc)}: {msg}" if loc else (f"{root}: {msg}" if root else msg))
        else:
            extra = hint(loc) if hint else ""
            lines.append(f"{name(loc)}={e['input']!r}: {msg}{extra}")
    return lines


def _format_errors(err: ValidationError) -> list[str]:
    def unknown(loc):
        return f"{_format_loc(loc)}: unknown key (remove it or fix its spelling; `uqgan init` writes every allowed key)"

    return error_lines(err, root="<case>", unknown=unknown)


def case_from_dict(data: dict[str, Any], *, source: str | None = None) -> CaseConfig:
    """Build and validate a case from plain data (as parsed from TOML)."""
    try:
        return CaseConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err), source) from None


def case_from_toml(text: str, *, source: str | None = None) -> CaseConfig:
    """Parse and validate a case from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"not valid TOML: {err}"], source) from None
    return case_from_dict(data, source=source)


def restrict_ranges(case: CaseConfig, ranges: dict[str, tuple[float, float]]) -> CaseConfig:
    """The case with some parameters' ranges narrowed to sub-ranges of its own, e.g. for an
    enrichment campaign where the histories change fastest (combine it with a campaign over the
    full ranges for training: :func:`uqgan.data.dataset.combine_datasets`). A nominal value outside
    the new range falls back to its midpoint.

    Raises
    ------
    ConfigError naming each parameter that is unknown, or whose range is reversed or leaves the case's.
    """
    problems = []
    data = case.model_dump()
    for name, (low, high) in ranges.items():
        where = f"parameters.{name}"
        if name not in data["parameters"]:
            problems.append(f"{where}: unknown parameter (the case has {', '.join(data['parameters'])})")
            continue
        old = getattr(case.parameters, name)
        if not (math.isfinite(low) and math.isfinite(high)) or high < low:
            problems.append(f"{where}: range [{low:g}, {high:g}] must be finite with low <= high")
        elif low < old.low or high > old.high:
            problems.append(f"{where}: range [{low:g}, {high:g}] leaves the case's [{old.low:g}, {old.high:g}]; "
                            "an enrichment campaign samples inside the case's ranges")
        else:
            nominal = old.nominal if old.nominal is not None and low <= old.nominal <= high else None
            data["parameters"][name] = {"low": float(low), "high": float(high), "nominal": nominal}
    if problems:
        raise ConfigError(problems)
    return case_from_dict(data)


def load_case(path: str | Path, *, check_mesh: bool = True) -> CaseConfig:
    """Read and validate a case TOML file.

    A mesh case's mesh file is read and checked too (its tags, its cells, its zone: see
    :mod:`uqgan.fem._mesh`; numpy and meshio only) unless ``check_mesh`` is False.

    Raises
    ------
    ConfigError
        One line per problem, naming the field, the bad value and what is allowed (a
        :class:`~uqgan.fem._mesh.MeshError` for a bad mesh).
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"case file {path} does not exist (write the default one with `uqgan init DIR`)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"not valid TOML: {err}"], str(path)) from None
    mesh = data.get("geometry", {}).get("mesh") if isinstance(data.get("geometry"), dict) else None
    if isinstance(mesh, str) and not Path(mesh).is_absolute():
        # a mesh path relative to the case file; stored absolute, so datasets built from it find it again
        data["geometry"]["mesh"] = str((path.parent / mesh).resolve())
    case = case_from_dict(data, source=str(path))
    if check_mesh and case.geometry.is_mesh_file:
        from .fem._mesh import mesh_summary

        mesh_summary(case)
    return case


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def case_to_toml(case: CaseConfig, *, comments: bool = True) -> str:
    """Write a case as TOML, each key commented with its description and unit."""
    lines: list[str] = []
    if comments:
        lines += [
            "# uqgan case file. Units are in the key names (_m, _s, _pa, ...).",
            "# Validate with `uqgan check CASE.toml`; see docs/case_reference.md.",
            "",
        ]

    def emit(model: BaseModel, table: str) -> None:
        fields = type(model).model_fields
        scalars = [(k, f) for k, f in fields.items() if not isinstance(getattr(model, k), BaseModel)]
        tables = [(k, f) for k, f in fields.items() if isinstance(getattr(model, k), BaseModel)]
        if table and (scalars or not tables):
            lines.append(f"[{table}]")
            if comments and type(model).__doc__:
                lines.append(f"# {type(model).__doc__.strip().splitlines()[0]}")
        for key, f in scalars:
            value = getattr(model, key)
            if value is None:
                if comments:
                    lines.append(f"# {key} = ...  ({f.description})")
                continue
            text = f"{key} = {_toml_value(value)}"
            if comments and f.description:
                text = f"{text:<40} # {f.description}"
            lines.append(text)
        if table and scalars:
            lines.append("")
        for key, f in tables:
            if lines and lines[-1] != "":
                lines.append("")
            sub = f"{table}.{key}" if table else key
            if comments and f.description and isinstance(getattr(model, key), ParameterRange):
                lines.append(f"# {key}: {f.description}")
            emit(getattr(model, key), sub)

    emit(case, "")
    return "\n".join(lines).rstrip() + "\n"


def write_case(case: CaseConfig, path: str | Path) -> Path:
    """Write ``case`` to ``path`` as commented TOML, atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(case_to_toml(case))
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# run configurations: what a command is asked to do with a case (validated here, not in the CLI)


def _option(name: str) -> dict:
    """Field metadata naming the command-line option that sets the field (used in error lines)."""
    return {"json_schema_extra": {"option": name}}


class _RunConfig(_Frozen):
    """A run's options. :meth:`build` validates them and raises :class:`ConfigError` with one line per
    problem, naming the command-line option (``--samples=1: must be >= 2``)."""

    @classmethod
    def build(cls, **values: Any):
        def name(loc):
            field = cls.model_fields.get(str(loc[0]))
            return ((field.json_schema_extra or {}) if field is not None else {}).get(
                "option", f"{cls.__name__}.{_format_loc(loc)}")

        try:
            return cls(**values)
        except ValidationError as err:
            raise ConfigError(error_lines(err, name=name)) from None


class CampaignConfig(_RunConfig):
    """Options of a full-model campaign (``uqgan generate-data``)."""

    n_samples: int = Field(ge=1, description="total full-model runs: points x replicates", **_option("--samples"))
    replicates: int = Field(1, ge=1, description="material fields per parameter point", **_option("--replicates"))
    design: Literal["sobol", "lhs", "mc"] = Field("sobol", description="parameter design", **_option("--design"))
    seed: int = Field(0, ge=0, description="seed of the design and of every material field", **_option("--seed"))
    workers: int = Field(1, ge=1, description="local worker processes (1 = this process)", **_option("--workers"))
    scheduler: str | None = Field(None, description="address of a Dask distributed scheduler",
                                  **_option("--scheduler"))
    save_fields: int = Field(0, ge=0, description="write ParaView files of the first M runs",
                             **_option("--save-fields"))
    ranks_per_sample: int = Field(1, ge=1, description="MPI ranks of each full-model run (local mpirun jobs)",
                                  **_option("--ranks-per-sample"))

    @model_validator(mode="after")
    def _one_mpi_job_per_sample(self) -> CampaignConfig:
        if self.ranks_per_sample > 1 and self.scheduler:
            raise ValueError("--ranks-per-sample with --scheduler: run one MPI job per sample with the srun recipe "
                             "in docs/cluster.md instead")
        if self.ranks_per_sample > 1 and self.save_fields:
            raise ValueError("--ranks-per-sample with --save-fields: ParaView output is serial; use "
                             "--ranks-per-sample 1")
        return self

    @model_validator(mode="after")
    def _whole_points(self) -> CampaignConfig:
        if self.n_samples % self.replicates:
            lo = (self.n_samples // self.replicates) * self.replicates
            hi = lo + self.replicates
            use = f"{lo} or {hi}" if lo else f"{hi}"
            raise ValueError(f"--samples={self.n_samples} is not a multiple of --replicates={self.replicates}: "
                             f"use {use}")
        return self


class MonteCarloConfig(_RunConfig):
    """Options of a Monte Carlo run through the cheap chain (``uqgan montecarlo``)."""

    n_samples: int = Field(ge=2, description="Monte Carlo samples (upper bound with target_halfwidth)",
                           **_option("--samples"))
    batch: int = Field(256, ge=1, description="samples per chunk: one generator draw, one batched submodel solve",
                       **_option("--batch"))
    seed: int = Field(0, ge=0, description="seed of the parameters and the generator draws", **_option("--seed"))
    target_halfwidth: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="stop when every QoI mean's CI half-width is below this fraction of the mean (e.g. 0.01)",
        **_option("--target-halfwidth"))
    level: float = Field(0.95, gt=0, lt=1, description="confidence level of every interval")


class TrainConfig(_RunConfig):
    """Options of ``uqgan train`` that every generator shares, and those of the generators that have them."""

    generator: str = Field("wgan-gp", description="generator name (uqgan.generators.GENERATOR_NAMES)",
                           **_option("--generator"))
    seed: int = Field(0, ge=0, description="seed of the split, the initialisation and the training draws",
                      **_option("--seed"))
    registration: Literal["none", "arrival"] = Field(
        "none", description="arrival: line up the wavefronts' arrival times before the POD; none: as they are",
        **_option("--registration"))
    pod_energy: float = Field(0.999, gt=0, le=1, description="fraction of the histories' variance the POD keeps",
                              **_option("--pod-energy"))
    covariance: str = Field("pooled", description="kriging-gaussian's residual law: pooled or local",
                            **_option("--covariance"))
    steps: int | None = Field(None, ge=0, description="generator steps of an adversarial training",
                              **_option("--steps"))
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where an adversarial training runs",
                                                   **_option("--device"))
    residuals: Literal["neighbours", "deviations"] | None = Field(
        None, description="what the wgan-* generators start from: neighbours (a neighbouring run's deviation, "
        "the default) or deviations (the Gaussian of the deviations)", **_option("--residuals"))

    @field_validator("generator")
    @classmethod
    def _known(cls, v: str) -> str:
        from .generators import GENERATOR_NAMES

        if v not in GENERATOR_NAMES:
            raise ValueError(f"must be one of {', '.join(GENERATOR_NAMES)}")
        return v

    @field_validator("covariance")
    @classmethod
    def _law(cls, v: str) -> str:
        if v not in ("pooled", "local"):
            hint = " (resampling is --generator kriging-resample)" if v == "resample" else ""
            raise ValueError(f"must be pooled or local{hint}")
        return v

    @model_validator(mode="after")
    def _covariance_of_kriging(self) -> TrainConfig:
        if self.covariance != "pooled" and self.generator != "kriging-gaussian":
            raise ValueError(f"--covariance={self.covariance}: only kriging-gaussian has it "
                             f"(got --generator={self.generator})")
        if self.residuals is not None and not self.generator.startswith("wgan-"):
            raise ValueError(f"--residuals={self.residuals}: only the wgan-* generators have it "
                             f"(got --generator={self.generator})")
        return self

    def generator_options(self, *, adversarial: bool) -> dict[str, Any]:
        """The keyword arguments of the generator's constructor (``adversarial``: the generator trains
        adversarially and takes ``device`` and ``steps``)."""
        options: dict[str, Any] = {"seed": self.seed, "registration": self.registration, "pod_energy": self.pod_energy}
        if self.generator == "kriging-gaussian":
            options["covariance"] = self.covariance
        if adversarial:
            options["device"] = self.device
            if self.steps is not None:
                options["steps"] = self.steps
            if self.residuals is not None:
                options["residuals"] = self.residuals
        return options
