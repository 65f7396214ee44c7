// uqgan example: a steel plate L x W x 0.02 m (0.3 x 0.15 by default) with a hole in the submodel zone
// (metres). Mesh it with `python simulations/plate3d_hole/make_mesh.py` (gmsh's Python API), or
// `gmsh -3 plate.geo -format msh41 -o plate_demo.msh -setnumber h 0.02`; h, L and W are parameters.
SetFactory("OpenCASCADE");
DefineConstant[ h = {0.02, Name "element size [m]"}, L = {0.3, Name "length [m]"}, W = {0.15, Name "width [m]"} ];
T = 0.02;                                   // plate: x in [0, L], y in [0, W], z in [0, T]
x0 = 0.17; x1 = 0.23; y0 = 0.05; y1 = 0.11; // the zone, through the thickness
r = 0.012;                                  // the hole at the zone centre
e = 1e-6;

Box(1) = {0, 0, 0, L, W, T};
Box(2) = {x0, y0, 0, x1 - x0, y1 - y0, T};
Cylinder(3) = {(x0 + x1) / 2, (y0 + y1) / 2, 0, 0, 0, T, r};
BooleanDifference(4) = { Volume{1}; Delete; }{ Volume{3}; };
BooleanDifference(5) = { Volume{2}; Delete; }{ Volume{3}; Delete; };
BooleanFragments{ Volume{4}; Delete; }{ Volume{5}; Delete; }

zone() = Volume In BoundingBox{x0 - e, y0 - e, -e, x1 + e, y1 + e, T + e};
rest() = Volume{:};
rest() -= zone();
Physical Volume("zone", 1) = zone();
Physical Volume("plate", 2) = rest();
Physical Surface("clamped", 3) = Surface In BoundingBox{-e, W - e, -e, L + e, W + e, T + e};      // the edge y = W
Physical Surface("impact_face", 4) = Surface In BoundingBox{-e, -e, -e, L + e, e, T + e};        // the edge y = 0

Mesh.MeshSizeMax = h;
Mesh.MeshSizeMin = h / 2;
Mesh.MeshSizeFromCurvature = 12;  // the hole gets ~12 elements per 2 pi
Mesh.ElementOrder = 1;            // linear geometry; the displacement degree is the case's geometry.degree
Mesh.Algorithm3D = 1;             // Delaunay
Mesh.RandomSeed = 1;
