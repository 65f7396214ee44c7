"""The P-wave strip shared by the Newmark and the explicit verification tests (needs dolfinx)."""

from __future__ import annotations

import numpy as np

from uqgan.fem import _dolfinx as fem
from uqgan.physics.material import wave_speeds

E, NU, RHO = 210e9, 0.3, 7850.0  # steel


def strip(length, height, nx, ny, degree, element="lagrange"):
    mesh = fem.rectangle_mesh(length, height, nx, ny)
    V = fem.vector_space(mesh, degree, element)
    asm = fem.Assembler(V, density_kg_m3=RHO, poisson_ratio=NU)
    return mesh, V, asm, asm.mass(), asm.stiffness(E)


def edge(mesh, axis, value):
    return fem.boundary_facets(mesh, lambda x: np.abs(x[axis] - value) < 1e-9)


def p_wave_strip(length=0.6, height=0.02, h=0.005, element="lagrange"):
    """A P2 (or CJRT, ``element="cjrt"``) strip on rollers (u_y = 0 on its long edges), so that it is
    in uniaxial strain, and the load vector of a unit pressure [Pa] on its left end:
    ``(V, M, K, fixed dofs, F)``."""
    mesh, V, _asm, M, K = strip(length, height, round(length / h), round(height / h), 2, element)
    rollers = np.concatenate([edge(mesh, 1, 0.0), edge(mesh, 1, height)])
    fixed = fem.raw_dofs(fem.nodes_on_facets(V, rollers), components=(1,))
    return V, M, K, fixed, _asm.pressure_load(edge(mesh, 0, 0.0), axis=1)


def front_speed(run, V, height, *, dt, p0=1e6, rise=1e-6, n_steps=900, stations_x=(0.1, 0.4)):
    """Launch a pressure step of ``p0`` [Pa] ramped over ``rise`` [s] with
    ``run(n_steps, force, observer)`` (an integrator's ``run``, ``force(t) -> F p(t)`` being the
    caller's) and time the front between two stations at mid-height by the crossing of half the
    plateau velocity ``p0/(ρ c_p)`` (linear interpolation between steps).

    Returns ``(front speed [m/s], v_x at the far station at the end [m/s], plateau [m/s], c_p)``.
    """
    c_p, _ = wave_speeds(E, NU, RHO)
    stations = np.array([int(np.argmin(np.hypot(V.node_coords[:, 0] - x, V.node_coords[:, 1] - height / 2)))
                         for x in stations_x])
    vel = []
    run(n_steps, lambda t: p0 * min(t / rise, 1.0), lambda k, t, u, v, a: vel.append(v[2 * stations]))
    vel, times = np.array(vel), dt * np.arange(len(vel))
    plateau = p0 / (RHO * c_p)

    def half_crossing(y):
        i = int(np.argmax(y > 0.5 * plateau))
        return times[i - 1] + (0.5 * plateau - y[i - 1]) / (y[i] - y[i - 1]) * dt

    c = (stations_x[1] - stations_x[0]) / (half_crossing(vel[:, 1]) - half_crossing(vel[:, 0]))
    return c, vel[-1, 1], plateau, c_p
