#!/usr/bin/env python3
"""What a CordQ transform means to ITK: resamples with SimpleITK (the machinery of ANTs'
antsApplyTransforms) and compares with CordQ's own resampling.

  check_itk_transforms.py SUBJECT_MAP TEMPLATE_MAP TO_TEMPLATE_XFM TO_SPACE_XFM CORDQ_BACK

SUBJECT_MAP is a map in the subject space, TEMPLATE_MAP the same map CordQ wrote in template
space, TO_TEMPLATE_XFM (`…_from-<space>_to-<template>_mode-image_xfm.nii.gz`, on the template
grid) takes subject images to the template, TO_SPACE_XFM (`…_from-<template>_to-<space>…`, on
the subject grid) the reverse, and CORDQ_BACK is TEMPLATE_MAP brought back by CordQ through
TO_SPACE_XFM. Prints one JSON object: the largest |ITK − CordQ| both ways and the map's range.
Used by the test suite (ProcessTemplateSpaceTests); needs SimpleITK and numpy.
"""
import json, sys
import numpy as np
import SimpleITK as sitk


def main(subject_map, template_map, to_template, to_space, cordq_back):
    moving = sitk.ReadImage(subject_map, sitk.sitkFloat32)
    in_template = sitk.ReadImage(template_map, sitk.sitkFloat32)
    forward = sitk.DisplacementFieldTransform(sitk.ReadImage(to_template, sitk.sitkVectorFloat64))
    by_itk = sitk.Resample(moving, in_template, forward, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    back_reference = sitk.ReadImage(cordq_back, sitk.sitkFloat32)
    inverse = sitk.DisplacementFieldTransform(sitk.ReadImage(to_space, sitk.sitkVectorFloat64))
    back_itk = sitk.Resample(in_template, back_reference, inverse, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    a, b = sitk.GetArrayFromImage(by_itk), sitk.GetArrayFromImage(in_template)
    c, d = sitk.GetArrayFromImage(back_itk), sitk.GetArrayFromImage(back_reference)
    print(json.dumps({"to_template_max_difference": float(np.abs(a - b).max()),
                      "to_space_max_difference": float(np.abs(c - d).max()),
                      "map_range": float(np.abs(b).max())}))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
