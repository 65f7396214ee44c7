"""Mesh plate.geo with gmsh's Python API (format 4.1).

    python make_mesh.py [--h 0.02] [--length 0.3] [--width 0.15] [--out plate_demo.msh]

Deterministic (one thread, a fixed seed). A relative ``--out`` is relative to this directory. The
shipped mesh is ``plate_demo.msh`` (defaults: h = 0.02 m, 0.3 x 0.15 m; ``case.toml``);
``case_full.toml`` needs ``--h 0.01 --length 0.6 --width 0.3 --out plate_full.msh``.
"""

import argparse
from pathlib import Path

import gmsh

here = Path(__file__).resolve().parent
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--h", type=float, default=0.02, help="element size [m]")
ap.add_argument("--length", type=float, default=0.3, help="plate length L along x [m]")
ap.add_argument("--width", type=float, default=0.15, help="plate width W along y [m] (the zone stays put)")
ap.add_argument("--out", type=Path, default=Path("plate_demo.msh"), help="output file (relative: to this directory)")
args = ap.parse_args()
args.out = args.out if args.out.is_absolute() else here / args.out
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
