#!/usr/bin/env python3
"""SMS (multiband) reconstruction: CordQ's slice-GRAPPA / split slice-GRAPPA against the truth
for MB 2, 3 and 4, and against pygrappa's `slicegrappa` (PyPI) on the same data.

Part 1 (CordQ alone, the simulator's slice-specific odd/even phase on): for each MB,
`cordq phantom kspace --multiband MB` writes sms.h5 (N slices, 16 coils spread along z, blipped
CAIPI FOV/MB, single-band calibration, noise with a coil covariance) and the per-slice truth;
`cordq recon --sms slice-grappa|split-slice-grappa --gfactor --sms-report` reconstructs it.
Printed per MB and method: NRMSE of |image| vs truth inside the object (after the best single
scale), leakage (L-factor from the calibration, calibration noise subtracted) mean/max, the
noise-equivalent leakage that was subtracted (leakage far below it is at the measurement
limit and shows as 0), g-factor mean/max.

Part 2 (CordQ vs pygrappa): pygrappa has no odd/even (Nyquist) handling, so the same
acquisition is simulated without odd/even phase (`--no-odd-even-phase`). pygrappa gets the
pre-whitened collapsed k-space and the CAIPI-shifted single-band calibration per group, a
kx × ky = 5 × 3 kernel (CordQ's default 3 rows × 5 columns), its own Tikhonov default; its
separated slices are unshifted, Fourier transformed and combined by root sum of squares.
CordQ runs `cordq recon --coil-combination sos` end to end (process start, HDF5 reading,
whitening, FFTs included); pygrappa's time is `slicegrappa()` alone (kernel fit and
application). Both timings (median of --runs) and the ratio are printed.

Usage (repository root, after `swift build -c release --product cordq`):
    /work/venv-bench/bin/python Benchmarks/recon/bench_sms.py [--matrix 64] [--coils 16] [--slices 24] [--runs 3]
"""
import argparse, json, os, shutil, subprocess, tempfile, time
os.environ.setdefault("TQDM_DISABLE", "1")
import numpy as np
import ismrmrd, nibabel as nib
from pygrappa import slicegrappa

ap = argparse.ArgumentParser()
ap.add_argument("--matrix", type=int, default=64)
ap.add_argument("--coils", type=int, default=16)
ap.add_argument("--slices", type=int, default=24)
ap.add_argument("--noise", type=float, default=0.01)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--mb", default="2,3,4")
ap.add_argument("--cordq", default=".build/release/cordq")
args = ap.parse_args()
cordq = args.cordq if os.path.exists(args.cordq) else ".build/debug/cordq"
tmp = tempfile.mkdtemp(prefix="cordq-bench-sms-")
env = dict(os.environ, CORDQ_QUIET="1")


def run(cmd):
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def phantom(d, mb, extra=()):
    run([cordq, "phantom", "kspace", d, "--multiband", str(mb), "--matrix", str(args.matrix), "--coils", str(args.coils),
         "--slices", str(args.slices), "--noise", str(args.noise), *extra])
    truth = nib.load(d + "/truth_combined.nii.gz").get_fdata()   # [x, y, slice]
    mask = nib.load(d + "/truth_object.nii.gz").get_fdata() > 0.05
    return truth, mask


def nrmse(mag, truth, mask):
    """NRMSE in the object after the best single scale (as bench_recon.py): the whitened units
    depend on the noise-scan estimate of Ψ, a global scale the reconstruction cannot know."""
    a = (mag[mask] * truth[mask]).sum() / (mag[mask] ** 2).sum()
    return float(np.linalg.norm(a * mag[mask] - truth[mask]) / np.linalg.norm(truth[mask]))


def cfft2(k, inverse=True):
    """Centred 2D transform over axes 0, 1 (index N/2 ↔ N/2), orthonormal."""
    f = np.fft.ifft2 if inverse else np.fft.fft2
    return np.fft.fftshift(f(np.fft.ifftshift(k, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1))


def load(h5):
    d = ismrmrd.Dataset(h5, "dataset", False)
    hdr = ismrmrd.xsd.CreateFromDocument(d.read_xml_header())
    acqs = [d.read_acquisition(i) for i in range(d.number_of_acquisitions())]
    d.close()
    up = {p.name: p.value for p in hdr.userParameters.userParameterLong}
    return hdr, acqs, up


def pygrappa_recon(h5, split):
    """Returns (|image| [x, y, slice], seconds in slicegrappa, seconds for the whole run from
    the file: reading, whitening, assembly, slicegrappa, unshift, FFT, root sum of squares)."""
    t_all = time.perf_counter()
    hdr, acqs, up = load(h5)
    enc = hdr.encoding[0]
    nx, ny = enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y
    ns = enc.encodingLimits.slice.maximum + 1
    mb, den = up["MultibandFactor"], up["MultibandCaipiShiftDenominator"]
    groups = ns // mb
    noise = np.concatenate([a.data for a in acqs if a.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)], axis=1)
    psi = noise @ noise.conj().T / noise.shape[1]
    white = np.linalg.inv(np.linalg.cholesky(psi))
    nc = psi.shape[0]

    def line(a):
        d = white @ a.data                       # [coil, sample]
        q = np.arange(nx)
        if a.is_flag_set(ismrmrd.ACQ_IS_REVERSE):   # sample n holds kx index (nx − n) mod nx
            out = np.empty_like(d); out[:, (nx - q) % nx] = d; return out
        return d

    calib = np.zeros((ns, nx, ny, nc), complex)
    coll = np.zeros((groups, nx, ny, nc), complex)
    for a in acqs:
        if a.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) or a.is_flag_set(ismrmrd.ACQ_IS_PHASECORR_DATA):
            continue
        ky, s = a.idx.kspace_encode_step_1, a.idx.slice
        if a.is_flag_set(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION):
            calib[s, :, ky, :] = line(a).T
        elif a.idx.repetition == 0:
            coll[s, :, ky, :] = line(a).T
    ramp = lambda k: np.exp(-2j * np.pi * (np.arange(ny) - ny // 2) * k / den)[None, :, None]
    mags = np.zeros((nx, ny, ns))
    seconds = 0.0
    for g in range(groups):
        members = [g + k * groups for k in range(mb)]
        cal = np.stack([calib[s] * ramp(k) for k, s in enumerate(members)], axis=-1)   # nx, ny, nc, MB
        t0 = time.perf_counter()
        res = slicegrappa(coll[g][..., None], cal, kernel_size=(5, 3), coil_axis=2, time_axis=3, slice_axis=3, split=split)
        seconds += time.perf_counter() - t0
        for k, s in enumerate(members):
            ks = res[:, :, :, 0, k] * np.conj(ramp(k))
            img = cfft2(ks)
            mags[:, :, s] = np.sqrt((np.abs(img) ** 2).sum(axis=2))
    return mags, seconds, time.perf_counter() - t_all


print(f"SMS benchmark: matrix {args.matrix}, {args.coils} coils, {args.slices} slices, noise {args.noise}, cordq {cordq}")
mbs = [int(m) for m in args.mb.split(",")]
print("\n== Part 1: CordQ vs truth (odd/even phase on; adaptive combination) ==")
print(f"{'MB':>3} {'method':>19} {'NRMSE':>7} {'leak mean':>9} {'leak max':>8} {'noise-eq':>8} {'g mean':>7} {'g max':>7}")
for mb in mbs:
    d = f"{tmp}/ghost{mb}"
    truth, mask = phantom(d, mb)
    for method in ["slice-grappa", "split-slice-grappa"]:
        out = f"{d}/{method}.nii.gz"
        run([cordq, "recon", d + "/sms.h5", out, "--sms", method, "--gfactor", f"{d}/{method}_g.nii.gz",
             "--sms-report", f"{d}/{method}.json"])
        with open(f"{d}/{method}.json") as f:
            rep = json.load(f)
        e = nrmse(nib.load(out).get_fdata(), truth, mask)
        print(f"{mb:>3} {method:>19} {e:7.4f} {rep['meanLeakage']:9.4f} {rep['maxLeakage']:8.4f} {rep['noiseEquivalentLeakage']:8.4f} {rep['meanGFactor']:7.3f} {rep['maxGFactor']:7.3f}")

print("\n== Part 2: CordQ vs pygrappa on the same data (no odd/even phase; root sum of squares) ==")
print(f"{'MB':>3} {'method':>19} {'NRMSE cordq':>11} {'NRMSE pygrappa':>14} {'cordq s':>8} {'pyg kernel s':>12} {'ratio':>6} {'pyg whole s':>11} {'ratio':>6}")
for mb in mbs:
    d = f"{tmp}/clean{mb}"
    truth, mask = phantom(d, mb, ["--no-odd-even-phase"])
    for method, split in [("slice-grappa", False), ("split-slice-grappa", True)]:
        out = f"{d}/{method}.nii.gz"
        tq = []
        for _ in range(args.runs):
            if os.path.exists(out): os.remove(out); os.remove(out.replace(".nii.gz", ".json"))
            t0 = time.perf_counter()
            run([cordq, "recon", d + "/sms.h5", out, "--sms", method, "--coil-combination", "sos"])
            tq.append(time.perf_counter() - t0)
        eq = nrmse(nib.load(out).get_fdata(), truth, mask)
        tp, tw = [], []
        for _ in range(args.runs):
            mags, sec, whole = pygrappa_recon(d + "/sms.h5", split)
            tp.append(sec); tw.append(whole)
        ep = nrmse(mags, truth, mask)
        a, b, c = float(np.median(tq)), float(np.median(tp)), float(np.median(tw))
        print(f"{mb:>3} {method:>19} {eq:11.4f} {ep:14.4f} {a:8.3f} {b:12.3f} {b / a:6.2f} {c:11.3f} {c / a:6.2f}")
print("\nratio = pygrappa time / cordq time (> 1: cordq faster); cordq time is the whole `cordq recon` run;")
print("'pyg kernel' is slicegrappa() alone, 'pyg whole' the Python run from the file (read, whiten, separate, FFT, rss).")
shutil.rmtree(tmp)
