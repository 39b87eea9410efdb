#!/usr/bin/env python3
"""Checks that CordQ's warps mean to ITK what they mean to CordQ.

Runs `cordq reg to-template` on the Spinal Cord Toolbox's t2 test scan (labels 3 and 5,
CordQ atlas), then warps the atlas cord onto the scan twice: with `cordq reg apply` and
with ITK (SimpleITK's DisplacementFieldTransform + Resample, the machinery ANTs'
antsApplyTransforms uses). Prints the largest voxel difference between the two, the Dice
of each with the manual segmentation, a control with the x and y components negated
(a RAS-instead-of-LPS mistake must wreck the overlap), and the Dice of the segmentation
taken to template space through the inverse warp by ITK.

Usage (from the repository root, after `make build` or `swift build`):
    python3 Benchmarks/registration/check_itk_warps.py [--cordq .build/release/cordq] [--data ../shared/data]
Needs SimpleITK and numpy (e.g. a virtual environment: pip install simpleitk numpy).
This is a cross-check with a peer tool, not a test.
"""
import argparse, os, subprocess, sys, tempfile
import numpy as np
import SimpleITK as sitk


def dice(a, b):
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cordq", default=".build/release/cordq")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--atlas", default="atlas/CordQ")
    a = ap.parse_args()
    t2 = os.path.join(a.data, "sct_testing_data/t2")
    out = tempfile.mkdtemp(prefix="cordq-itk-")
    subprocess.run([a.cordq, "reg", "to-template", f"{t2}/t2.nii.gz", "--seg", f"{t2}/t2_seg-manual.nii.gz",
                    "--labels", f"{t2}/labels.nii.gz", "--atlas", a.atlas, "--regions", "spinal cord", f"{out}/reg"], check=True)
    cord = f"{a.atlas}/template/CordQ_cord.nii.gz"
    subprocess.run([a.cordq, "reg", "apply", cord, f"{out}/reg/warp_template2anat.nii.gz", f"{t2}/t2.nii.gz",
                    f"{out}/cord_cordq.nii.gz"], check=True, stdout=subprocess.DEVNULL)

    warp = sitk.ReadImage(f"{out}/reg/warp_template2anat.nii.gz", sitk.sitkVectorFloat64)
    ref = sitk.ReadImage(f"{t2}/t2.nii.gz", sitk.sitkFloat32)
    same = (np.allclose(warp.GetOrigin(), ref.GetOrigin()) and np.allclose(warp.GetDirection(), ref.GetDirection())
            and np.allclose(warp.GetSpacing(), ref.GetSpacing()))
    print(f"ITK reads the warp as a {warp.GetNumberOfComponentsPerPixel()}-component vector image "
          f"{warp.GetSize()} on the scan's geometry: {same}")
    moving = sitk.ReadImage(cord, sitk.sitkFloat32)
    by_itk = sitk.GetArrayFromImage(sitk.Resample(moving, ref, sitk.DisplacementFieldTransform(sitk.Image(warp)),
                                                  sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    by_cordq = sitk.GetArrayFromImage(sitk.ReadImage(f"{out}/cord_cordq.nii.gz", sitk.sitkFloat32))
    seg = sitk.GetArrayFromImage(sitk.ReadImage(f"{t2}/t2_seg-manual.nii.gz", sitk.sitkFloat32)) > 0.5
    print(f"template→scan: max |ITK − CordQ| = {np.abs(by_itk - by_cordq).max():.2e}; "
          f"Dice vs segmentation: ITK {dice(by_itk >= 0.5, seg):.4f}, CordQ {dice(by_cordq >= 0.5, seg):.4f}")
    flipped = sitk.GetArrayFromImage(warp).copy()
    flipped[..., :2] *= -1
    w2 = sitk.GetImageFromArray(flipped, isVector=True)
    w2.CopyInformation(warp)
    control = sitk.GetArrayFromImage(sitk.Resample(moving, ref, sitk.DisplacementFieldTransform(w2), sitk.sitkLinear, 0.0))
    print(f"control with x, y negated (RAS read as LPS): Dice {dice(control >= 0.5, seg):.4f}")

    inv = sitk.ReadImage(f"{out}/reg/warp_anat2template.nii.gz", sitk.sitkVectorFloat64)
    grid = sitk.Image(inv.GetSize(), sitk.sitkFloat32)
    grid.CopyInformation(inv)
    seg_t = sitk.GetArrayFromImage(sitk.Resample(sitk.ReadImage(f"{t2}/t2_seg-manual.nii.gz", sitk.sitkFloat32), grid,
                                                 sitk.DisplacementFieldTransform(sitk.Image(inv)), sitk.sitkLinear, 0.0)) >= 0.5
    cord_t = sitk.GetArrayFromImage(sitk.Resample(moving, grid, sitk.Transform(), sitk.sitkLinear, 0.0)) >= 0.5
    zs = np.where(seg_t.any(axis=(1, 2)))[0]
    print(f"scan→template by ITK through warp_anat2template: Dice vs template cord {dice(seg_t[zs], cord_t[zs]):.4f} "
          f"over {len(zs)} template slices")
    print(f"(files in {out})")


if __name__ == "__main__":
    sys.exit(main())
