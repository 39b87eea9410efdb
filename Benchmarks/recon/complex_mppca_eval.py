#!/usr/bin/env python3
"""NRMSE and diffusion-weighted bias of magnitude/complex MP-PCA outputs against truth_combined (see complex_mppca.sh)."""
import nibabel as nib, numpy as np, sys
for d in sys.argv[1:]:
    t = np.asarray(nib.load(f"{d}/truth_combined.nii.gz").dataobj).astype(np.float64)
    cord = np.asarray(nib.load(f"{d}/truth_cord.nii.gz").dataobj) > 0
    def load(n):
        x = np.asarray(nib.load(f"{d}/{n}").dataobj)
        return np.abs(x).astype(np.float64)
    t4 = t if t.ndim == 4 else t[..., None]
    obj = t4[..., 0] > 0.1 * t4[..., 0].max()
    res = {}
    for name in ["mag.nii.gz", "mag_den.nii.gz", "cplx.nii.gz", "cplx_den.nii.gz"]:
        x = load(name)
        for region, m in [("object", obj), ("cord", cord if cord.shape == obj.shape else obj)]:
            mm = np.broadcast_to(m[..., None], x.shape)
            e = np.sqrt(np.mean((x[mm] - t4[mm]) ** 2)) / np.sqrt(np.mean(t4[mm] ** 2))
            # bias: mean (x - t) / mean t over DW volumes in the region
            b = np.mean(x[..., 1:][np.broadcast_to(m[..., None], x[..., 1:].shape)] - t4[..., 1:][np.broadcast_to(m[..., None], t4[..., 1:].shape)]) / np.mean(t4[..., 1:][np.broadcast_to(m[..., None], t4[..., 1:].shape)])
            res[(name, region)] = (e, b)
    snr = t4[..., 1:][np.broadcast_to(cord[..., None], t4[..., 1:].shape)].mean()
    print(d, "shape", t4.shape, f"mean DW signal in cord / sigma(=1) ~ {snr:.1f}")
    for k, (e, b) in res.items(): print(f"  {k[0]:18s} {k[1]:7s} NRMSE {e:.4f}  DW bias {b:+.4f}")
