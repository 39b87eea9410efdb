#!/work/venv-dipy/bin/python
"""CordQ `dwi dti` vs MRtrix3 `dwi2tensor` + `tensor2metric` on the real SCT tutorial series
(a comparison, not a test).

Series: ../shared/data/sct_tutorial_data/dmri/dmri.nii.gz (96×36×15×35; b=0 ×5 + b=800 ×30,
FSL bvals.txt/bvecs.txt). Both tools fit every voxel of the image (no mask; MRtrix3's
default) with the same algorithm family: ordinary least squares, then 2 weighted passes
(MRtrix3 `-iter 2`, the default; CordQ `--wls-iterations 2`, the default).

Cord region for the agreement numbers (the series ships without a segmentation): the mean
diffusion-weighted image (b = 800) is bright in the cord and dark in CSF, so the cord is the
largest 3D connected component of voxels whose mean DWI exceeds 50 % of that image's 99.5th
percentile. The script prints its voxel count per slice; FA is compared voxel by voxel there.

Times: wall clock of the two MRtrix3 commands together (`-nthreads 2`, writing dt.mif then
FA and ADC as NIfTI) vs the one `cordq dwi dti` command (2 cores, writing FA and MD as
uncompressed NIfTI: `--maps FA,MD`, plus dti.json), best of --repeats runs each, run under
the build lock. Like for like: both read the same .nii.gz (one gzip member, as shipped, so
CordQ decompresses it on one core), both write uncompressed .nii, both start a process
(MRtrix3 two). All runs are printed, not only the best.

Set-up: apt-get install -y mrtrix3; python3 -m venv /work/venv-dipy && /work/venv-dipy/bin/pip install dipy
Usage: flock /tmp/cordq-build.lock /work/venv-dipy/bin/python Benchmarks/diffusion/compare_mrtrix.py
"""
import argparse, os, shutil, subprocess, tempfile, time
import numpy as np, nibabel as nib
from scipy import ndimage

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cordq", default=".build/release/cordq")
    ap.add_argument("--data", default=os.path.normpath(os.path.join(os.path.dirname(__file__), "../../../shared/data/sct_tutorial_data/dmri")))
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    dwi, bvals, bvecs = a.data + "/dmri.nii.gz", a.data + "/bvals.txt", a.data + "/bvecs.txt"
    work = tempfile.mkdtemp(prefix="cordq-mrtrix-")
    env = dict(os.environ, CORDQ_QUIET="1")

    runs = {}
    def timed(cmds, outputs):
        times = []
        for _ in range(a.repeats):
            for f in outputs:
                shutil.rmtree(f, ignore_errors=True) if os.path.isdir(f) else (os.path.exists(f) and os.remove(f))
            t = time.perf_counter()
            for c in cmds: subprocess.run(c, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        runs[cmds[0][0]] = times
        return min(times)

    mrtrix = timed([["dwi2tensor", "-quiet", "-nthreads", "2", "-fslgrad", bvecs, bvals, dwi, work + "/dt.mif"],
                    ["tensor2metric", "-quiet", "-nthreads", "2", work + "/dt.mif", "-fa", work + "/fa.nii", "-adc", work + "/md.nii"]],
                   [work + "/dt.mif", work + "/fa.nii", work + "/md.nii"])
    cordq = timed([[a.cordq, "dwi", "dti", "--dwi", dwi, "--mask", "all", "--no-compress", "--maps", "FA,MD", "-o", work + "/cordq"]],
                  [work + "/cordq"])

    img = nib.load(dwi); data = np.asarray(img.dataobj, dtype=float)
    b = np.loadtxt(bvals)
    mean_dwi = data[..., b > 50].mean(-1)
    raw = mean_dwi > 0.5 * np.percentile(mean_dwi, 99.5)
    labels, n = ndimage.label(raw)
    sizes = ndimage.sum(raw, labels, range(1, n + 1))
    cord = labels == (1 + int(np.argmax(sizes)))
    fa_m = np.nan_to_num(np.asarray(nib.load(work + "/fa.nii").dataobj, dtype=float))
    md_m = np.nan_to_num(np.asarray(nib.load(work + "/md.nii").dataobj, dtype=float)) * 1000  # mm²/s → µm²/ms
    fa_c = np.asarray(nib.load(work + "/cordq/FA.nii").dataobj, dtype=float)
    md_c = np.asarray(nib.load(work + "/cordq/MD.nii").dataobj, dtype=float)
    d_fa, d_md = np.abs(fa_c - fa_m)[cord], np.abs(md_c - md_m)[cord]
    print(f"series {dwi}: {data.shape}, b=0 ×{int((b <= 50).sum())} + b=800 ×{int((b > 50).sum())}")
    print(f"cord region: largest component of mean DWI > 50% of its 99.5th percentile: {int(cord.sum())} voxels, "
          f"per slice {cord.sum(axis=(0, 1)).tolist()}")
    print(f"FA in cord: CordQ median {np.median(fa_c[cord]):.3f}, MRtrix3 median {np.median(fa_m[cord]):.3f}; "
          f"median |ΔFA| {np.median(d_fa):.4f}, 95th percentile {np.percentile(d_fa, 95):.4f}, max {d_fa.max():.4f}")
    print(f"MD in cord (µm²/ms): CordQ median {np.median(md_c[cord]):.3f}, MRtrix3 median {np.median(md_m[cord]):.3f}; "
          f"median |ΔMD| {np.median(d_md):.4f}")
    for tool, times in runs.items(): print(f"runs {os.path.basename(tool)}: " + " ".join(f"{t:.3f}" for t in times) + " s")
    print(f"time (best of {a.repeats}): MRtrix3 dwi2tensor+tensor2metric {mrtrix:.3f} s, CordQ dwi dti {cordq:.3f} s, "
          f"MRtrix3/CordQ {mrtrix / cordq:.2f}x")
    shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
