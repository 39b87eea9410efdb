#!/usr/bin/env python3
"""Make the 4x larger phantom for the `cordq process` benchmark.

`cordq phantom` writes every series on a fixed grid (PhantomAcquisition.grid in
Sources/CordPipeline/PhantomExport.swift; neither the CLI nor PhantomExportOptions can
change it), so the large subject is the demo subject resampled: every NIfTI image of the
BIDS dataset gets a 2x finer in-plane matrix (in-plane voxel size halved, same field of
view, same slices, same volumes), i.e. 4x the voxels of each image.

  - in-plane axes: the two spatial voxel axes other than the slice axis (the thickest one;
    voxel axis k for every phantom series);
  - intensity images (floating point): linear interpolation by default (no overshoot, so
    positive signal stays positive for the DTI log fit), or --order 3 for cubic splines;
  - label images (integer datatype: derivatives/labels disc labels, truth masks and dseg):
    nearest neighbour, i.e. each voxel becomes a 2x2 block, which keeps each label's mean
    world position (what VertebralLabelling.fromLabels uses) exactly;
  - the voxel->world transform (sform and qform, same codes) is updated so that world
    positions are preserved: the fine voxel j along an in-plane axis sits at coarse voxel
    coordinate j/2 - 1/4, and the field of view's edges are unchanged;
  - every other file (JSON sidecars, .bval/.bvec, TSVs, dataset_description) is copied
    unchanged.

Usage: make_large_subject.py SRC_BIDS_ROOT DST_BIDS_ROOT [--factor 2] [--order 1]
e.g.   cordq phantom /work/bench-data/demo
       make_large_subject.py /work/bench-data/demo /work/bench-data/large
Needs numpy, scipy and nibabel.
"""
import argparse
import os
import shutil
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage


def slice_axis(zooms):
    """The thickest spatial axis (ties go to the last one, k)."""
    z = list(zooms[:3])
    best = 2
    for a in (1, 0):
        if z[a] > z[best] + 1e-6:
            best = a
    return best


def upsample_3d(vol, axes, factor, order):
    """Resample one 3D volume onto the grid that is `factor` times finer along `axes`."""
    shape = list(vol.shape)
    out_shape = [s * factor if a in axes else s for a, s in enumerate(shape)]
    if order == 0:
        out = vol
        for a in axes:
            out = np.repeat(out, factor, axis=a)
        return out
    # Fine index j -> coarse coordinate (j + 1/2)/factor - 1/2.
    grids = []
    for a, n in enumerate(out_shape):
        if a in axes:
            grids.append((np.arange(n, dtype=np.float64) + 0.5) / factor - 0.5)
        else:
            grids.append(np.arange(n, dtype=np.float64))
    coords = np.meshgrid(*grids, indexing="ij")
    out = ndimage.map_coordinates(vol.astype(np.float64), coords, order=order, mode="nearest",
                                  prefilter=order > 1)
    return out


def resample_image(src, dst, factor, order):
    img = nib.load(src)
    hdr = img.header.copy()
    dtype = hdr.get_data_dtype()
    zooms = hdr.get_zooms()
    k = slice_axis(zooms)
    axes = [a for a in range(3) if a != k]
    is_label = np.issubdtype(dtype, np.integer)
    interp = 0 if is_label else order
    data = np.asanyarray(img.dataobj)
    if data.ndim == 3:
        out = upsample_3d(data, axes, factor, interp)
    else:
        rest = data.shape[3:]
        flat = data.reshape(data.shape[:3] + (-1,))
        vols = [upsample_3d(flat[..., t], axes, factor, interp) for t in range(flat.shape[3])]
        out = np.stack(vols, axis=3).reshape(vols[0].shape + rest)
    out = out.astype(dtype)

    # Same world positions: scale the in-plane columns, move the origin to the first fine
    # voxel's centre (coarse coordinate 1/(2 factor) - 1/2 along each in-plane axis).
    affine = img.affine.copy()
    shift = np.zeros(3)
    for a in axes:
        shift[a] = 0.5 / factor - 0.5
    affine[:3, 3] = affine[:3, :3] @ shift + affine[:3, 3]
    for a in axes:
        affine[:3, a] /= factor
    qcode = int(hdr["qform_code"])
    scode = int(hdr["sform_code"])
    new = nib.Nifti1Image(out, affine, header=hdr)
    new.set_qform(affine, code=qcode if qcode > 0 else 1)
    new.set_sform(affine, code=scode if scode > 0 else 1)
    new_zooms = list(zooms)
    for a in axes:
        new_zooms[a] = zooms[a] / factor
    new.header.set_zooms(new_zooms)
    new.header.set_data_dtype(dtype)
    new.header["descrip"] = hdr["descrip"]
    if not is_label:
        new.header["scl_slope"] = hdr["scl_slope"]
        new.header["scl_inter"] = hdr["scl_inter"]
    new.header["xyzt_units"] = hdr["xyzt_units"]
    nib.save(new, dst)
    # Check: the centre of the field of view and the corners' world positions agree.
    fov_old = img.affine @ np.r_[(np.array(img.shape[:3]) - 1) / 2.0, 1]
    fov_new = affine @ np.r_[(np.array(out.shape[:3]) - 1) / 2.0, 1]
    if not np.allclose(fov_old, fov_new, atol=1e-4):
        raise SystemExit(f"{src}: field-of-view centre moved {fov_old[:3]} -> {fov_new[:3]}")
    return img.shape, out.shape, "nearest" if is_label else ("linear" if order == 1 else f"order {order}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="BIDS root written by `cordq phantom` (holds sub-*/ and derivatives/)")
    p.add_argument("dst", help="new BIDS root (must not exist)")
    p.add_argument("--factor", type=int, default=2, help="in-plane refinement per axis (default 2: 4x voxels)")
    p.add_argument("--order", type=int, default=1, choices=[1, 3], help="interpolation for intensity images: 1 linear (default), 3 cubic")
    args = p.parse_args()
    if os.path.exists(args.dst):
        sys.exit(f"{args.dst} exists")
    for root, _, files in os.walk(args.src):
        rel = os.path.relpath(root, args.src)
        os.makedirs(os.path.join(args.dst, rel), exist_ok=True)
        for f in sorted(files):
            s, d = os.path.join(root, f), os.path.join(args.dst, rel, f)
            if f.endswith(".nii") or f.endswith(".nii.gz"):
                old, new, how = resample_image(s, d, args.factor, args.order)
                print(f"{os.path.join(rel, f)}: {'x'.join(map(str, old))} -> {'x'.join(map(str, new))} ({how})")
            else:
                shutil.copy2(s, d)


if __name__ == "__main__":
    main()
