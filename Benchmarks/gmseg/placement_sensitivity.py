#!/usr/bin/env python3
"""How sensitive is GM Dice on sct_testing_data/mt/mt1 to where the cord is? (issue #25)

Per slice of mt1 (0.84 x 0.84 x 17 mm, 5 slices), compares a cord mask (CordQ's, from
`cordq seg cord ... --contrast mt`) with the reference mt1_seg (sct_propseg): Dice, area,
centroid; then places the CordQ atlas's GM butterfly by cord moments (same equations as
GreyMatterPrior.place, re-written in NumPy; prior alone, no EM) in each cord, unshifted and
shifted by +-0.25 mm in x and y, and reports GM Dice against mt1_gmseg >= 1/2.
mt1_gmseg was made by sct_segment_graymatter *given mt1_seg* (data README), so the reference
cord's unshifted placement shares the reference's own placement.
Usage: placement_sensitivity.py CORD_SOFT.nii.gz [ATLAS_DIR]
"""
import sys, os
import numpy as np, nibabel as nib
from scipy import ndimage as ndi

DATA = os.environ.get("CORDQ_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
D = os.path.join(DATA, "sct_testing_data/mt/")
ATLAS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../atlas/CordQ")

def load(f):
    im = nib.load(f); return im.get_fdata(), im.affine

def dice(a, b): return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)

def moments(w, aff):
    I, J = np.meshgrid(np.arange(w.shape[0]), np.arange(w.shape[1]), indexing="ij")
    X = aff[0, 0] * I + aff[0, 1] * J + aff[0, 3]; Y = aff[1, 0] * I + aff[1, 1] * J + aff[1, 3]
    W = w.sum(); cx = (w * X).sum() / W; cy = (w * Y).sum() / W
    C = np.array([[(w * (X - cx) ** 2).sum(), (w * (X - cx) * (Y - cy)).sum()],
                  [(w * (X - cx) * (Y - cy)).sum(), (w * (Y - cy) ** 2).sum()]]) / W
    return np.array([cx, cy]), C

def sqrtm(C):
    e, v = np.linalg.eigh(C); return v @ np.diag(np.sqrt(e)) @ v.T

img, aff = load(D + "mt1.nii.gz")
ref_cord, _ = load(D + "mt1_seg.nii.gz")
R = load(D + "mt1_gmseg.nii.gz")[0] >= 0.5
ours = np.clip(load(sys.argv[1])[0], 0, 1)
ac, aaff = load(ATLAS + "/template/CordQ_cord.nii.gz")
ag, _ = load(ATLAS + "/template/CordQ_gm.nii.gz")
al, _ = load(ATLAS + "/template/CordQ_levels.nii.gz")
ainv = np.linalg.inv(aaff)
c4 = [k for k in range(al.shape[2]) if (al[..., k] == 4).any()]; ka = (c4[0] + c4[-1]) // 2
ct, Ct = moments(ac[..., ka], aaff)

def prior(c2d, shift=(0.0, 0.0)):
    cs, Cs = moments(c2d, aff); M = sqrtm(Ct) @ np.linalg.inv(sqrtm(Cs))
    nx, ny = c2d.shape; out = np.zeros((nx, ny)); offs = (np.arange(3) + 0.5) / 3 - 0.5
    for a in offs:
        for b in offs:
            I, J = np.meshgrid(np.arange(nx) + a, np.arange(ny) + b, indexing="ij")
            X = aff[0, 0] * I + aff[0, 1] * J + aff[0, 3] - shift[0]; Y = aff[1, 0] * I + aff[1, 1] * J + aff[1, 3] - shift[1]
            dx, dy = X - cs[0], Y - cs[1]
            qx = ct[0] + M[0, 0] * dx + M[0, 1] * dy; qy = ct[1] + M[1, 0] * dx + M[1, 1] * dy
            ii = ainv[0, 0] * qx + ainv[0, 1] * qy + ainv[0, 3]; jj = ainv[1, 0] * qx + ainv[1, 1] * qy + ainv[1, 3]
            out += ndi.map_coordinates(ag[..., ka], [ii, jj], order=1, cval=0)
    return out / 9 * c2d

px = abs(np.linalg.det(aff[:2, :2]))
print("slice  cord Dice  area ours/ref mm2   centroid shift ours-ref (mm, x y)")
for k in range(img.shape[2]):
    o, r = ours[..., k], ref_cord[..., k]
    co, _ = moments(o, aff); cr, _ = moments(r, aff)
    print("%5d  %9.3f  %6.1f / %6.1f   %+.2f %+.2f" % (k, dice(o >= 0.5, r >= 0.5), o.sum() * px, r.sum() * px, *(co - cr)))
for name, c in (("reference cord mt1_seg", ref_cord), ("CordQ cord", ours)):
    res = {}
    for sx in (-0.25, 0.0, 0.25):
        for sy in (-0.25, 0.0, 0.25):
            P = np.stack([prior(np.clip(c[..., k], 0, 1), (sx, sy)) for k in range(img.shape[2])], axis=2)
            res[(sx, sy)] = dice(P >= 0.5, R)
    v = np.array(list(res.values()))
    print("%s: prior GM Dice unshifted %.3f; shifted by up to 0.25 mm (9 placements) min %.3f mean %.3f max %.3f"
          % (name, res[(0.0, 0.0)], v.min(), v.mean(), v.max()))
