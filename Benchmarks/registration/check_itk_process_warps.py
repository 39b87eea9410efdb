#!/usr/bin/env python3
"""Checks that every warp `cordq process` writes (anatomical, DWI and MT spaces) means to ITK
what it means to CordQ.

Writes the demo phantom (`cordq phantom`), runs `cordq process` on it, then for each contrast
space with maps in template space (DWI: FA; MT: MTR):
  - ITK (SimpleITK's DisplacementFieldTransform + Resample, the machinery of ANTs'
    antsApplyTransforms) reads `<base>_from-<space>_to-CordQ_mode-image_xfm.nii.gz` (SCT's
    warp_<space>2template) and resamples the subject-space map onto the template grid:
    compared with CordQ's own `<base>_space-CordQ_…` map;
  - ITK reads `<base>_from-CordQ_to-<space>_mode-image_xfm.nii.gz` and brings that template-space map back onto the
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
    out = work + "/bids/derivatives/cordq/sub-phantom01"
    subprocess.run([cordq, "process", work + "/bids/sub-phantom01", out, "--no-qc"], check=True, stdout=subprocess.DEVNULL)
    # (space, folder, subject-space map, the same map in template space)
    cases = [("dwi", "dwi", "dwi/sub-phantom01_space-dwi_model-DTI_param-FA_dwimap.nii.gz", "dwi/sub-phantom01_space-CordQ_model-DTI_param-FA_dwimap.nii.gz"),
             ("MTS", "anat", "anat/sub-phantom01_space-MTS_MTRmap.nii.gz", "anat/sub-phantom01_space-CordQ_MTRmap.nii.gz")]
    worst = 0.0
    for space, folder, subject_map, template_map in cases:
        to_template_file = f"{out}/{folder}/sub-phantom01_from-{space}_to-CordQ_mode-image_xfm.nii.gz"
        to_space_file = f"{out}/{folder}/sub-phantom01_from-CordQ_to-{space}_mode-image_xfm.nii.gz"
        to_template = sitk.ReadImage(to_template_file, sitk.sitkVectorFloat64)
        to_space = sitk.ReadImage(to_space_file, sitk.sitkVectorFloat64)
        moving = sitk.ReadImage(f"{out}/{subject_map}", sitk.sitkFloat32)
        cordq_template = sitk.ReadImage(f"{out}/{template_map}", sitk.sitkFloat32)
        by_itk = sitk.Resample(moving, cordq_template, sitk.DisplacementFieldTransform(sitk.Image(to_template)), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        a1, b1 = sitk.GetArrayFromImage(by_itk), sitk.GetArrayFromImage(cordq_template)
        scale = max(1e-6, float(np.abs(b1).max()))
        d1 = float(np.abs(a1 - b1).max())
        back_cordq = f"{work}/{space}_back_cordq.nii.gz"
        subprocess.run([cordq, "reg", "apply", f"{out}/{template_map}",
                        to_space_file, f"{out}/{subject_map}", back_cordq], check=True, stdout=subprocess.DEVNULL)
        back_itk = sitk.Resample(cordq_template, moving, sitk.DisplacementFieldTransform(sitk.Image(to_space)), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        d2 = float(np.abs(sitk.GetArrayFromImage(back_itk) - sitk.GetArrayFromImage(sitk.ReadImage(back_cordq, sitk.sitkFloat32))).max())
        print(f"{space}: ITK reads both warps ({to_template.GetNumberOfComponentsPerPixel()} components); "
              f"subject→template max |ITK − CordQ| {d1:.2e} (map range {scale:.3g}); template→subject max |ITK − CordQ| {d2:.2e}")
        worst = max(worst, d1 / scale, d2 / scale)
    print(f"worst relative difference {worst:.2e} (files in {work})")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
