"""The cheap chain: parameters → generator → submodel → zone QoIs. The only one.

Monte Carlo (:func:`uqgan.montecarlo.run_montecarlo`), its validation against full-model runs
(:func:`uqgan.montecarlo.validate_against_reference`) and the zone-QoI check of ``uqgan evaluate``
(:func:`uqgan.evaluation.zone_qoi_check`) all draw their QoIs through :class:`CheapChain`.
"""

from __future__ import annotations

import numpy as np

from ..config import CaseConfig
from ..physics.qoi import QOI_SPECS

__all__ = ["CheapChain"]


class CheapChain:
    """A loaded generator and the case's submodel, turning parameters into zone QoIs.

    Parameters
    ----------
    case
        The case: the zone, the material and the time step of the submodel.
    generator
        A fitted :class:`~uqgan.generators.Generator` (``load_generator(dir)`` for a saved one).
    submodel
        A :class:`~uqgan.fem.submodel.SubModel` of ``case`` to share between chains (built on first
        use when None).

    Notes
    -----
    The submodel (dolfinx) is built on the first call to :meth:`qois` and reused, so a chain costs
    one submodel assembly whatever the number of calls.
    """

    def __init__(self, case: CaseConfig, generator, *, submodel=None):
        self.case = case
        self.generator = generator
        self._submodel = submodel

    @property
    def submodel(self):
        """The case's :class:`~uqgan.fem.submodel.SubModel` (built once, needs dolfinx)."""
        if self._submodel is None:
            from ..fem.submodel import SubModel

            self._submodel = SubModel(self.case)
        return self._submodel

    def histories(self, params: dict[str, np.ndarray], *, n: int = 1, rng: np.random.Generator):
        """``n`` generated boundary histories per parameter row (the generator's dataset schema)."""
        return self.generator.sample(params, n, rng=rng)

    def qois(self, params: dict[str, np.ndarray], *, n: int = 1, rng: np.random.Generator,
             batch_size: int = 256) -> dict[str, np.ndarray]:
        """Zone QoIs of ``n`` generated histories per parameter row, through the submodel.

        Parameters
        ----------
        params
            Parameter name → ``(m,)`` values [Pa, s, m].
        n
            Draws per row.
        rng
            The generator's randomness.
        batch_size
            Histories per batched submodel solve.

        Returns
        -------
        QoI name (:data:`~uqgan.physics.qoi.QOI_SPECS`) → ``(m n,)`` values, row-major (the ``n``
        draws of row 0 first), in the QoIs' units.
        """
        bcs = self.histories(params, n=n, rng=rng)
        u = bcs["u_bc"].transpose("sample", "time", "node", "component")
        node_z = u["node_z"].values if "node_z" in u.coords else None  # 3-D mesh cases
        res = self.submodel.solve(u.values, u["time"].values, node_x=u["node_x"].values,
                                  node_y=u["node_y"].values, node_z=node_z, batch_size=batch_size)
        return {s.name: np.asarray(res[s.name]) for s in QOI_SPECS}
