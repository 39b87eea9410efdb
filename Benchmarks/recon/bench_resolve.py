#!/usr/bin/env python3
"""RESOLVE: a whole readout-segmented DWI series reconstructed by `cordq recon` against the time
it takes to acquire, and navigator-corrected vs uncorrected NRMSE against the simulated truth.

Series (defaults): 5 segments × 32 samples (full kx 128, overlap 8), 48 ky lines, 24-line 2D
navigator, 16 coils, 20 slices, 1 b = 0 + 30 directions at b = 1000 s/mm², one corrupted shot
re-acquired per 10 volumes. Acquisition time: volumes × segments × TR (TR 2 s for 20 slices,
one segment of every slice per TR) = 31 × 5 × 2 s = 310 s, the ≈ 5 min of the issue.
The simulation (`cordq phantom kspace --sequence resolve --replicate-slices`: slices after the
first reuse its k-space, which costs the reconstruction the same work) is not timed.
Timed: `cordq recon` end to end (process start, HDF5 read through libismrmrd, NIfTI write).

Usage (repository root, after `swift build -c release --product cordq`, under the build lock):
    flock /tmp/cordq-build.lock /work/venv-bench/bin/python Benchmarks/recon/bench_resolve.py
"""
import argparse, json, os, shutil, subprocess, tempfile, time
import numpy as np
import nibabel as nib

ap = argparse.ArgumentParser()
ap.add_argument("--matrix", type=int, default=128)
ap.add_argument("--phase-lines", type=int, default=48)
ap.add_argument("--segment-width", type=int, default=32)
ap.add_argument("--coils", type=int, default=16)
ap.add_argument("--slices", type=int, default=20)
ap.add_argument("--directions", type=int, default=30)
ap.add_argument("--tr", type=float, default=2.0, help="s, one segment of every slice per TR")
ap.add_argument("--cordq", default=".build/release/cordq")
ap.add_argument("--keep", action="store_true")
args = ap.parse_args()
tmp = tempfile.mkdtemp(prefix="cordq-bench-resolve-")
env = dict(os.environ, CORDQ_QUIET="1")
vols = args.directions + 1
t0 = time.time()
subprocess.run([args.cordq, "phantom", "kspace", tmp + "/ph", "--sequence", "resolve", "--matrix", str(args.matrix),
                "--phase-lines", str(args.phase_lines), "--segment-width", str(args.segment_width), "--navigator-lines", "24",
                "--coils", str(args.coils), "--slices", str(args.slices), "--directions", str(args.directions),
                "--corrupted-shots", str(max(1, vols // 10)), "--noise", "0.004", "--replicate-slices"],
               check=True, env=env, stdout=subprocess.DEVNULL)
sim_s = time.time() - t0
h5 = tmp + "/ph/resolve.h5"
print(f"simulated {vols} volumes × {args.slices} slices × 5 segments × {args.coils} coils "
      f"({os.path.getsize(h5) / 1e9:.2f} GB ISMRMRD) in {sim_s:.0f} s (not timed)")

def recon(out, extra):
    t = time.time()
    subprocess.run([args.cordq, "recon", h5, out] + extra, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.time() - t

truth = nib.load(tmp + "/ph/truth_combined.nii.gz").get_fdata()   # x, y, z, t
mask = truth[..., 0] > 0.05 * truth[..., 0].max()

def nrmse(path):
    img = nib.load(path).get_fdata()
    errs = []
    for v in range(img.shape[3]):
        m, t = img[..., v][mask], truth[..., v][mask]
        a = (m * t).sum() / (m * m).sum()
        errs.append(np.linalg.norm(a * m - t) / np.linalg.norm(t))
    return float(np.mean(errs))

t_nav = recon(tmp + "/nav.nii.gz", [])
t_off = recon(tmp + "/off.nii.gz", ["--no-navigator"])
acq = vols * 5 * args.tr
q = json.load(open(tmp + "/nav_resolve.json"))
print(f"cordq recon (navigator): {t_nav:.1f} s; acquisition {acq:.0f} s; recon/acquisition {t_nav / acq:.3f}")
print(f"cordq recon --no-navigator: {t_off:.1f} s")
print(f"NRMSE vs truth (mean over volumes, object): navigator {nrmse(tmp + '/nav.nii.gz'):.4f}, "
      f"no navigator {nrmse(tmp + '/off.nii.gz'):.4f}")
print(f"shots {len(q['shots'])}, rejected {q['rejectedShots']}; corrupted in the simulation: "
      f"{len(json.load(open(tmp + '/ph/truth_shots.json'))['corruptedShotCounters'])}")
if not args.keep:
    shutil.rmtree(tmp)
