#!/usr/bin/env python3
"""Checks that every warp `cordq process` writes (anatomical, DWI and MT spaces) means to ITK
what it means to CordQ.

Writes the demo phantom (`cordq phantom`), runs `cordq process` on it, then for each contrast
space with maps in template space (DWI: FA; MT: MTR):
  - ITK (SimpleITK's DisplacementFieldTransform + Resample, the machinery of ANTs'
    antsApplyTransforms) reads `warp_<space>2template.nii.gz` and resamples the subject-space
    map onto the template grid: compared with CordQ's own `<stem>_space-template_<metric>`;
  - ITK reads `warp_template2<space>.nii.gz` and brings that template-space map back onto the
    space's grid: compared with `cordq reg apply` through the same warp.
Prints the largest differences (a sign or axis mistake gives differences of the map's size).

Usage (from the repository root, after `make build`):
    /work/venv-bench/bin/python Benchmarks/registration/check_itk_process_warps.py [--cordq .build/release/cordq]
Needs SimpleITK and numpy. A cross-check with a peer tool, not a test.
"""
import argparse, os, subprocess, sys, tempfile
import numpy as np
import SimpleITK as sitk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cordq", default=".build/release/cordq")
    a = ap.parse_args()
    cordq = os.path.abspath(a.cordq)
    work = tempfile.mkdtemp(prefix="cordq-itk-process-")
    subprocess.run([cordq, "phantom", work + "/bids"], check=True, stdout=subprocess.DEVNULL)
    out = work + "/out"
    subprocess.run([cordq, "process", work + "/bids/sub-phantom01", out, "--no-qc"], check=True, stdout=subprocess.DEVNULL)
    cases = [("dwi", "dwi", "sub-phantom01_dwi", "dwi/sub-phantom01_dwi_dti/FA.nii.gz", "fa"),
             ("mt", "anat", "sub-phantom01_flip-1_mt-on_MTS", "anat/sub-phantom01_MTRmap.nii.gz", "mtr-pu")]
    worst = 0.0
    for space, folder, stem, subject_map, metric in cases:
        to_template = sitk.ReadImage(f"{out}/{folder}/warp_{space}2template.nii.gz", sitk.sitkVectorFloat64)
        to_space = sitk.ReadImage(f"{out}/{folder}/warp_template2{space}.nii.gz", sitk.sitkVectorFloat64)
        moving = sitk.ReadImage(f"{out}/{subject_map}", sitk.sitkFloat32)
        cordq_template = sitk.ReadImage(f"{out}/{folder}/{stem}_space-template_{metric}.nii.gz", sitk.sitkFloat32)
        by_itk = sitk.Resample(moving, cordq_template, sitk.DisplacementFieldTransform(sitk.Image(to_template)), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        a1, b1 = sitk.GetArrayFromImage(by_itk), sitk.GetArrayFromImage(cordq_template)
        scale = max(1e-6, float(np.abs(b1).max()))
        d1 = float(np.abs(a1 - b1).max())
        back_cordq = f"{work}/{space}_back_cordq.nii.gz"
        subprocess.run([cordq, "reg", "apply", f"{out}/{folder}/{stem}_space-template_{metric}.nii.gz",
                        f"{out}/{folder}/warp_template2{space}.nii.gz", f"{out}/{subject_map}", back_cordq], check=True, stdout=subprocess.DEVNULL)
        back_itk = sitk.Resample(cordq_template, moving, sitk.DisplacementFieldTransform(sitk.Image(to_space)), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        d2 = float(np.abs(sitk.GetArrayFromImage(back_itk) - sitk.GetArrayFromImage(sitk.ReadImage(back_cordq, sitk.sitkFloat32))).max())
        print(f"{space}: ITK reads both warps ({to_template.GetNumberOfComponentsPerPixel()} components); "
              f"subject→template max |ITK − CordQ| {d1:.2e} (map range {scale:.3g}); template→subject max |ITK − CordQ| {d2:.2e}")
        worst = max(worst, d1 / scale, d2 / scale)
    print(f"worst relative difference {worst:.2e} (files in {work})")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
