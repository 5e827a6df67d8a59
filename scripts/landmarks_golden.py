"""Golden values for the 3D Slicer .fcsv reader (src/volume/landmarks_tests.rs).

Writes a small NIfTI with an oblique, anisotropic affine (rotation + translation) and the same four markups
as RAS and as LPS .fcsv files, then computes with nibabel, independently of the Rust code:
  - each point's voxel index in the file's stored array (inverse of nibabel's affine, as saved),
  - every pairwise distance as the spec defines it, ||(v2 - v1) * zooms||, and as a world distance.
Run from the repository root:  python3 scripts/landmarks_golden.py
"""
import json
import os

import nibabel as nib
import numpy as np

OUT = "tests/golden/landmarks"
os.makedirs(OUT, exist_ok=True)

# Stored shape and zooms; direction = rotation of 20° about z then 35° about x, with one flipped axis.
shape = (12, 10, 8)
zooms = np.array([0.8, 1.3, 2.1])
a, b = np.deg2rad(20.0), np.deg2rad(35.0)
rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
direction = rz @ rx @ np.diag([1.0, -1.0, 1.0])
affine = np.eye(4)
affine[:3, :3] = direction * zooms
affine[:3, 3] = [-7.25, 12.5, -3.75]
data = (np.arange(np.prod(shape)).reshape(shape) % 97).astype(np.int16)
img = nib.Nifti1Image(data, affine)
img.set_sform(affine, code=1)
img.set_qform(affine, code=1)
path = os.path.join(OUT, "oblique.nii.gz")
nib.save(img, path)
saved = nib.load(path)
aff = saved.affine  # float32-rounded sform as stored, in float64
zooms_saved = np.sqrt((aff[:3, :3] ** 2).sum(axis=0))

# Points chosen as voxel positions (fractional), mapped to world RAS through the saved affine.
voxels = {"F-1": [2.0, 3.0, 1.0], "F-2": [9.5, 1.25, 6.0], "F-3": [5.0, 8.0, 3.5], "nasion": [0.0, 0.0, 7.0]}
ras = {k: (aff @ np.array(v + [1.0]))[:3] for k, v in voxels.items()}

header = "# Markups fiducial file version = 4.11\n# CoordinateSystem = {cs}\n" \
         "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
for cs, sign in [("RAS", np.array([1, 1, 1])), ("LPS", np.array([-1, -1, 1]))]:
    lines = [header.format(cs=cs)]
    for n, (k, p) in enumerate(ras.items()):
        q = [float(v) for v in p * sign]
        lines.append(f"vtkMRMLMarkupsFiducialNode_{n},{q[0]!r},{q[1]!r},{q[2]!r},0,0,0,1,1,1,0,{k},,vtkMRMLScalarVolumeNode1\n")
    with open(os.path.join(OUT, f"points_{cs.lower()}.fcsv"), "w") as f:
        f.write("".join(lines))

# Truth from the fcsv text as written (re-parsed), through nibabel's inverse affine.
inv = np.linalg.inv(aff)
parsed = {}
with open(os.path.join(OUT, "points_ras.fcsv")) as f:
    for line in f:
        if line.startswith("#"):
            continue
        parts = line.strip().split(",")
        parsed[parts[11]] = np.array([float(parts[1]), float(parts[2]), float(parts[3])])
stored_voxels = {k: (inv @ np.append(p, 1.0))[:3] for k, p in parsed.items()}
names = sorted(parsed)
pairs = []
for i, p in enumerate(names):
    for q in names[i + 1:]:
        d_vox = float(np.linalg.norm((stored_voxels[q] - stored_voxels[p]) * zooms_saved))
        d_world = float(np.linalg.norm(parsed[q] - parsed[p]))
        pairs.append({"a": p, "b": q, "distance_mm": d_vox, "world_distance_mm": d_world})
golden = {
    "nibabel": nib.__version__,
    "zooms": zooms_saved.tolist(),
    "stored_voxels": {k: v.tolist() for k, v in stored_voxels.items()},
    "world_ras": {k: v.tolist() for k, v in parsed.items()},
    "pairs": pairs,
}
with open(os.path.join(OUT, "fcsv_golden.json"), "w") as f:
    json.dump(golden, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", OUT)
