#!/usr/bin/env python3
"""MP-PCA benchmark: CordQ vs MRtrix3 dwidenoise vs DIPY mppca on a CordQ phantom.

Input: `cordq dwi simulate` on a 96×96×20 grid with 66 volumes (6 b=0 + 60 × b=1000),
SNR 20 in white matter at b=0, and one of two noise profiles: `--noise mb2` (default)
multiband 2 with σ differing between the 10 slice groups by up to 2× (1 + frac(0.618·g)),
so neighbouring slices have different σ, as g-factors make it (SliceTiming in dwi.json);
`--noise ramp`: σ rising smoothly 2× across the slices. Prints, per tool: wall time, peak memory, RMSE against the noise-free series
(whole field of view and cord), median σ against the true σ, and the ratios to CordQ.

Usage (from the repository root, after `make build`):
    python3 Benchmarks/denoise/compare.py [--cordq .build/release/cordq] [--keep DIR]
DIPY is used when importable (e.g. run with a virtual environment's python that has dipy).
This is a benchmark, not a test: nothing here asserts on time.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time
import numpy as np
import nibabel as nib


def run(cmd, env=None):
    """Runs a command under /usr/bin/time -v; returns (seconds, peak MiB)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return wall, rss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cordq", default=".build/release/cordq")
    ap.add_argument("--keep", help="keep the work folder here")
    ap.add_argument("--noise", choices=["mb2", "ramp", "uniform"], default="mb2")
    a = ap.parse_args()
    cordq = os.path.abspath(a.cordq)
    work = a.keep or tempfile.mkdtemp(prefix="cordq-denoise-bench-")
    os.makedirs(work, exist_ok=True)
    sim = os.path.join(work, "sim-" + a.noise)
    profile = {"mb2": ["--multiband", "2", "--group-noise-spread", "1"], "ramp": ["--slice-noise-ramp", "1"], "uniform": []}[a.noise]
    if not os.path.exists(os.path.join(sim, "dwi.nii.gz")):
        shutil.rmtree(sim, ignore_errors=True)
        subprocess.run([cordq, "dwi", "simulate", sim, "--scheme", "dti66", "--snr", "20", "--in-plane", "0.5",
                        "--field-of-view", "48", "--slice-thickness", "3", "--z-range=-40,20",
                        ] + profile, check=True, capture_output=True)
    dwi = os.path.join(sim, "dwi.nii.gz")
    noisy = nib.load(dwi).get_fdata(dtype=np.float32)
    clean = nib.load(os.path.join(sim, "truth_dwi_noisefree.nii.gz")).get_fdata(dtype=np.float32)
    sigma_true = nib.load(os.path.join(sim, "truth_sigma.nii.gz")).get_fdata(dtype=np.float32)
    cord = nib.load(os.path.join(sim, "mask_cord.nii.gz")).get_fdata() > 0
    # Where σ can be judged: tissue whose noise-free b=0 signal is ≥ 5σ (cord, CSF, other
    # tissue). In signal-free background the magnitude noise is Rayleigh, not Gaussian, and
    # every MP-PCA tool reports ~0.66σ there.
    tissue = clean[..., 0] >= 5 * sigma_true
    print(f"input {noisy.shape}, true σ {sigma_true.min():.4f}…{sigma_true.max():.4f}, {int(tissue.sum())} tissue voxels, {int(cord.sum())} cord voxels")

    def rmse(x, m=None):
        d = (x - clean) ** 2
        return float(np.sqrt(d[m].mean() if m is not None else d.mean()))

    results = []
    # Per slice group (slices sharing one σ): the median σ ratio in tissue, worst and best group.
    levels = np.unique(np.round(sigma_true[0, 0, :] * 1e6))
    def group_range(s):
        r = [float(np.median((s / sigma_true)[tissue & (np.round(sigma_true * 1e6) == l)])) for l in levels]
        return f"{min(r):.2f}…{max(r):.2f}"
    results.append(("noisy input", None, None, rmse(noisy), rmse(noisy, cord), None, ""))
    env1 = dict(os.environ, OPENBLAS_NUM_THREADS="1")

    for label, extra in [("CordQ mppca (overcomplete, stride 2)", []), ("CordQ mppca (overcomplete, stride 1)", ["--stride", "1"]),
                         ("CordQ mppca (centre)", ["--reconstruction", "centre"]),
                         ("CordQ mppca (stride 2, no slice groups)", ["--slice-groups", "none"])]:
        out, sig = os.path.join(work, "cq.nii.gz"), os.path.join(work, "cq_sigma.nii.gz")
        for f in (out, sig):
            if os.path.exists(f): os.remove(f)
        t, m = run([cordq, "denoise", "mppca", dwi, out, "--noise", sig] + extra, env1)
        den = nib.load(out).get_fdata(dtype=np.float32)
        s = nib.load(sig).get_fdata(dtype=np.float32)
        results.append((label, t, m, rmse(den), rmse(den, cord), float(np.median((s / sigma_true)[tissue])), group_range(s)))

    if shutil.which("dwidenoise"):
        out, sig = os.path.join(work, "mr.nii.gz"), os.path.join(work, "mr_sigma.nii.gz")
        for f in (out, sig):
            if os.path.exists(f): os.remove(f)
        t, m = run(["dwidenoise", "-quiet", "-nthreads", "2", dwi, out, "-noise", sig])
        den = nib.load(out).get_fdata(dtype=np.float32)
        s = nib.load(sig).get_fdata(dtype=np.float32)
        results.append(("MRtrix3 dwidenoise (2 threads)", t, m, rmse(den), rmse(den, cord), float(np.median((s / sigma_true)[tissue])), group_range(s)))
    else:
        print("dwidenoise not found (apt-get install mrtrix3): skipped")

    try:
        import dipy  # noqa: F401
        script = os.path.join(work, "dipy_mppca.py")
        with open(script, "w") as f:
            f.write("import sys, numpy as np, nibabel as nib\nfrom dipy.denoise.localpca import mppca\n"
                    "img = nib.load(sys.argv[1]); d = img.get_fdata(dtype=np.float32)\n"
                    "den, s = mppca(d, patch_radius=2, return_sigma=True)\n"
                    "nib.save(nib.Nifti1Image(den.astype(np.float32), img.affine), sys.argv[2])\n"
                    "nib.save(nib.Nifti1Image(s.astype(np.float32), img.affine), sys.argv[3])\n")
        out, sig = os.path.join(work, "dp.nii.gz"), os.path.join(work, "dp_sigma.nii.gz")
        t, m = run([sys.executable, script, dwi, out, sig], env1)
        den = nib.load(out).get_fdata(dtype=np.float32)
        s = nib.load(sig).get_fdata(dtype=np.float32)
        results.append(("DIPY mppca (patch radius 2, 1 BLAS thread)", t, m, rmse(den), rmse(den, cord), float(np.median((s / sigma_true)[tissue])), group_range(s)))
    except ImportError:
        print("DIPY not importable with this python: skipped (pip install dipy in a venv and run with its python)")

    ref = results[1]
    print(f"\n{'tool':44s} {'time s':>8s} {'peak MiB':>9s} {'RMSE':>8s} {'RMSE cord':>10s} {'σ/σ tissue':>10s} {'σ/σ per σ level':>16s} {'time vs CordQ':>14s} {'RMSE vs CordQ':>14s}")
    for name, t, m, r, rc, s, gr in results:
        ts = f"{t:8.2f}" if t is not None else " " * 8
        ms = f"{m:9.0f}" if m is not None else " " * 9
        ss = f"{s:10.3f}" if s is not None else " " * 10
        tr = f"{t / ref[1]:13.2f}x" if t is not None else " " * 14
        rr = f"{r / ref[3]:13.2f}x"
        print(f"{name:44s} {ts} {ms} {r:8.5f} {rc:10.5f} {ss} {gr:>16s} {tr} {rr}")
    if not a.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
