"""Mesh plate.geo with gmsh's Python API (format 4.1).

    python make_mesh.py [--h 0.02] [--length 0.3] [--width 0.15] [--out plate_demo.msh]

Deterministic (one thread, a fixed seed). The shipped meshes: ``plate_demo.msh`` (h = 0.02 m, the
demo case ``case.toml``) and ``plate.msh`` (h = 0.01 m, ``case_full.toml``).
"""

import argparse
from pathlib import Path

import gmsh

here = Path(__file__).resolve().parent
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--h", type=float, default=0.02, help="element size [m]")
ap.add_argument("--length", type=float, default=0.3, help="plate length L along x [m]")
ap.add_argument("--width", type=float, default=0.15, help="plate width W along y [m] (the zone stays at y = 0.05..0.11)")
ap.add_argument("--out", type=Path, default=here / "plate_demo.msh")
args = ap.parse_args()
gmsh.initialize(readConfigFiles=False)
try:
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.NumThreads", 1)
    for name, value in (("element size [m]", args.h), ("length [m]", args.length), ("width [m]", args.width)):
        gmsh.onelab.setNumber(name, [value])
    gmsh.open(str(here / "plate.geo"))
    gmsh.model.mesh.generate(3)
    gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
    gmsh.option.setNumber("Mesh.Binary", 0)
    gmsh.write(str(args.out))
finally:
    gmsh.finalize()
print(args.out)
