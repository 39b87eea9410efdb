#!/usr/bin/env python3
"""CordQ `cordq epi field` against PyHySCO (PyPI `pyhysco`, CPU PyTorch) on the same phantom pair.

For each size the phantom (a bump of the field at every disc plus a gradient; b=0 pair read
out with PhaseEncodingDirection j and j-, TotalReadoutTime 40 ms, Rician noise) is written
by `cordq phantom subject --acquisitions dwi --epi-distortion`. Both tools get the same two
files. Reported against the truth, in the cord + 5 mm region the phantom writes:
field RMSE (Hz) and NRMSE of the corrected b=0 (each tool's own Jacobian-modulated
correction of the j image, and CordQ's combined pair) against the undistorted noise-free b=0.
Times: CordQ = wall time of the `cordq epi field` process (start-up and file writing
included); PyHySCO = data loading, OT initialisation, Gauss-Newton and correction in this
process (torch import excluded), torch on 2 threads. Ratio = PyHySCO / CordQ.

Sizes are FOV[@VOXEL] in mm: 96 is 96x96x16 at 1 mm; 64@0.5 is a ZoomIt-like 128x128x16 at
0.5 mm in plane (5 mm slices over C1-C7 in both). Times are medians over the repeats; CordQ's
compute-only time (the estimation, from field.json's ComputeSeconds) is reported beside its
process time (start-up, reading, estimation and writing five gzip NIfTI files).

Usage: Benchmarks/distortion/compare.py [--cordq .build/release/cordq] [--sizes 40,96,64@0.5] [--repeats 5]
Run the timing under the build lock: flock /tmp/cordq-build.lock python3 Benchmarks/distortion/compare.py
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np
import nibabel as nib


def rmse(a, b, m):
    return float(np.sqrt(np.mean((a[m] - b[m]) ** 2)))


def nrmse(a, truth, m):
    return rmse(a, truth, m) / float(truth[m].max() - truth[m].min())


def run_cordq(cordq, up, down, out):
    t0 = time.perf_counter()
    subprocess.run([cordq, "epi", "field", "--pe", up, "--pe-reverse", down, out], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "CORDQ_QUIET": "1"})
    wall = time.perf_counter() - t0
    rec = json.load(open(os.path.join(out, "field.json")))
    return wall, rec["ComputeSeconds"]


def run_pyhysco(up, down, outprefix, trt):
    import torch
    from EPI_MRI.EPIMRIDistortionCorrection import DataObject, EPIMRIDistortionCorrection
    from optimization.GaussNewton import GaussNewton
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    # Defaults of the pyhysco command: alpha 300, beta 1e-4, OT initialisation, Gauss-Newton
    # (Jacobi-PCG), 50 iterations at most, single precision on the CPU; PE along dim 2 (j).
    data = DataObject(up, down, 2, device="cpu", dtype=torch.float32)
    loss = EPIMRIDistortionCorrection(data, alpha=300, beta=1e-4)
    b0 = loss.initialize(blur_result=True)
    opt = GaussNewton(loss, max_iter=50, verbose=False, path=outprefix)
    opt.run_correction(b0)
    corr1, _ = opt.apply_correction(method="jac")
    seconds = time.perf_counter() - t0
    # Field: displacement (mm along the PE axis, for image 1) on the nodal grid (n+1 nodes along
    # PE): averaged to the cell centres, then Hz = mm / voxel size / TotalReadoutTime.
    m = [int(v) for v in data.m]
    bc = opt.Bc.reshape([m[0], m[1], m[2] + 1]).cpu().numpy()
    bc = 0.5 * (bc[..., 1:] + bc[..., :-1])
    bc = np.transpose(bc, data.p)  # back to (i, j, k)
    h = float(np.sqrt((nib.load(up).affine[:3, 1] ** 2).sum()))
    field = bc / h / trt
    return seconds, field, np.asarray(corr1.cpu().numpy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cordq", default=".build/release/cordq")
    ap.add_argument("--sizes", default="96,64@0.5", help="DWI in-plane field of view (mm), @voxel size (mm, default 1), comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", default=None, help="keep the data in this folder")
    ap.add_argument("--readout-time", type=float, default=0.04, help="TotalReadoutTime (s) of the phantom pair")
    a = ap.parse_args()
    rows = []
    for size in a.sizes.split(","):
        fov, _, vox = size.partition("@")
        fov, vox = int(fov), float(vox or 1)
        tag = f"fov{fov}" + ("" if vox == 1 else f"_vox{vox}") + ("" if a.readout_time == 0.04 else f"_trt{a.readout_time}")
        work = a.keep and os.path.join(a.keep, tag) or tempfile.mkdtemp(prefix="cordq-distortion-")
        ds = os.path.join(work, "phantom")
        if not os.path.exists(ds):
            subprocess.run([a.cordq, "phantom", "subject", ds, "--acquisitions", "dwi", "--epi-distortion", "--snr", "20",
                            "--dwi-fov", str(fov), "--dwi-in-plane", str(vox), "--seed", "7", "--readout-time", str(a.readout_time)], check=True, stdout=subprocess.DEVNULL)
        sub = os.path.join(ds, "sub-phantom01")
        up, down = os.path.join(sub, "fmap/sub-phantom01_dir-PA_epi.nii.gz"), os.path.join(sub, "fmap/sub-phantom01_dir-AP_epi.nii.gz")
        trt = json.load(open(up.replace(".nii.gz", ".json")))["TotalReadoutTime"]
        t = os.path.join(ds, "derivatives/truth/sub-phantom01/fmap/sub-phantom01")
        truth = nib.load(t + "_desc-truth_fieldmap.nii.gz").get_fdata()
        b0 = nib.load(t + "_desc-undistorted_b0.nii.gz").get_fdata()
        region = nib.load(t + "_label-cordplus5mm_mask.nii.gz").get_fdata() > 0
        upimg = nib.load(up).get_fdata()
        shape = "x".join(str(s) for s in truth.shape)
        ct = []
        for r in range(a.repeats):
            out = os.path.join(work, f"cordq{r}")
            subprocess.run(["rm", "-rf", out])
            ct.append(run_cordq(a.cordq, up, down, out))
        cc_s = [c for _, c in ct]; ct = [w for w, _ in ct]
        out = os.path.join(work, "cordq0")
        subprocess.run(["rm", "-rf", out]); run_cordq(a.cordq, up, down, out)
        cf = nib.load(os.path.join(out, "field_hz.nii.gz")).get_fdata()
        cc = nib.load(os.path.join(out, "pe_corrected.nii.gz")).get_fdata()
        cb = nib.load(os.path.join(out, "b0_corrected.nii.gz")).get_fdata()
        pt, pf, pc = [], None, None
        for r in range(a.repeats):
            s, pf, pc = run_pyhysco(up, down, os.path.join(work, "pyhysco"), trt)
            pt.append(s)
        # PyHySCO normalises the pair to [0, 256] (minus the pair's minimum, times 256 / range):
        # its corrected image is taken back to the input's units by the inverse of that map.
        downimg = nib.load(down).get_fdata()
        lo = min(upimg.min(), downimg.min()); span = max(upimg.max(), downimg.max()) - lo
        row = dict(grid=shape, truth_rms_hz=float(np.sqrt(np.mean(truth[region] ** 2))),
                   cordq_s=float(np.median(ct)), cordq_compute_s=float(np.median(cc_s)), pyhysco_s=float(np.median(pt)),
                   ratio=float(np.median(pt) / np.median(ct)), ratio_compute=float(np.median(pt) / np.median(cc_s)),
                   cordq_rmse_hz=rmse(cf, truth, region), pyhysco_rmse_hz=rmse(pf, truth, region),
                   distorted_nrmse=nrmse(upimg, b0, region), cordq_nrmse=nrmse(cc, b0, region),
                   cordq_pair_nrmse=nrmse(cb, b0, region), pyhysco_nrmse=nrmse(pc * span / 256 + lo, b0, region),
                   readout_ms=1000 * trt, load_average=os.getloadavg()[0])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| grid | readout (ms) | truth RMS (Hz) | CordQ RMSE (Hz) | PyHySCO RMSE (Hz) | b0 NRMSE distorted | CordQ | CordQ pair | PyHySCO | CordQ process s | CordQ compute s | PyHySCO s | ratio (process) | ratio (compute) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['grid']} | {r['readout_ms']:.1f} | {r['truth_rms_hz']:.1f} | {r['cordq_rmse_hz']:.2f} | {r['pyhysco_rmse_hz']:.2f} | {r['distorted_nrmse']:.4f} | "
              f"{r['cordq_nrmse']:.4f} | {r['cordq_pair_nrmse']:.4f} | {r['pyhysco_nrmse']:.4f} | {r['cordq_s']:.3f} | {r['cordq_compute_s']:.3f} | {r['pyhysco_s']:.2f} | {r['ratio']:.1f}x | {r['ratio_compute']:.1f}x |")


if __name__ == "__main__":
    main()
