"""Mesh plate.geo into plate.msh (gmsh 4.1 format) with gmsh's Python API: ``python make_mesh.py [h]``.

Deterministic: one thread, a fixed seed; the shipped plate.msh was made with h = 0.01 m.
"""

import sys
from pathlib import Path

import gmsh

here = Path(__file__).resolve().parent
h = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
out = here / (sys.argv[2] if len(sys.argv) > 2 else "plate.msh")
gmsh.initialize(readConfigFiles=False)
try:
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.onelab.set(f'[{{"type": "number", "name": "element size [m]", "values": [{h}]}}]')
    gmsh.open(str(here / "plate.geo"))
    gmsh.model.mesh.generate(3)
    gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
    gmsh.option.setNumber("Mesh.Binary", 0)
    gmsh.write(str(out))
finally:
    gmsh.finalize()
print(out)
