#!/work/venv-dipy/bin/python
"""CordQ vs DIPY on the same simulated cord series (a comparison, not a test).

Simulates a phantom series with `cordq dwi simulate`, fits it with CordQ (`cordq dwi dti`,
`cordq dwi microfa --method qti|gamma`) and with DIPY (`TensorModel` WLS, `dipy.reconst.qti`
WLS), inside the phantom's cord mask, and prints median |ΔFA| and |ΔμFA| between the tools,
each tool's error against the phantom truth, the time of each fit and the speed ratio.

CordQ's DTI writes FA and MD only (--maps FA,MD), as the DIPY side does; both write .nii.gz.
Input files: `cordq dwi simulate` writes .nii.gz as independent 1 MiB gzip members with a
length field (valid gzip, read by nibabel as usual), which CordQ decompresses on both cores.
`--single-member` first rewrites each simulated series as one gzip member (as most tools
write), so CordQ decompresses it on one core; both tools always read the same file.
Times: "end to end" is reading the series, fitting, computing the maps and writing them
(CordQ: the whole `cordq` command as a process, including start-up; DIPY: nibabel load,
fit, metrics, nibabel save, Python start-up and imports excluded); "fit only" is the
fitting and metric computation (CordQ's FitSeconds from its JSON). Best of --repeats runs. OpenBLAS is single-threaded for
both (OPENBLAS_NUM_THREADS=1), since both parallelise (or not) over voxels themselves.

Set-up: python3 -m venv /work/venv-dipy && /work/venv-dipy/bin/pip install dipy
Usage (with the venv's python, which has numpy and nibabel; under the build lock on shared
machines): flock /tmp/cordq-build.lock /work/venv-dipy/bin/python Benchmarks/diffusion/compare_dipy.py
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

DIPY_FIT = r'''
import json, sys, time
t_all = time.perf_counter()
import numpy as np, nibabel as nib
from dipy.core.gradients import gradient_table
from dipy.reconst.dti import TensorModel
import dipy.reconst.qti as qti
folder, out, kind = sys.argv[1], sys.argv[2], sys.argv[3]
t_io = time.perf_counter()
img = nib.load(folder + "/dwi.nii.gz"); data = np.asarray(img.dataobj, dtype=np.float64)
mask = np.asarray(nib.load(folder + "/mask_cord.nii.gz").dataobj) > 0
bvals = np.loadtxt(folder + "/dwi.bval"); bvecs = np.loadtxt(folder + "/dwi.bvec").T
shapes = [l.split("\t")[0] for l in open(folder + "/dwi_encoding.tsv").read().splitlines()[1:]]
code = {"linear": "LTE", "planar": "PTE", "spherical": "STE", "none": "LTE"}
btens = np.array([code[s] for s in shapes])
load_s = time.perf_counter() - t_io
res = {}
if kind == "dti":
    gt = gradient_table(bvals, bvecs=bvecs, b0_threshold=50)
    t = time.perf_counter(); fit = TensorModel(gt, fit_method="WLS").fit(data, mask=mask); fa = fit.fa; md = fit.md
    res["fit_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    nib.save(nib.Nifti1Image(fa.astype(np.float32), img.affine), out + "/dipy_FA.nii.gz")
    nib.save(nib.Nifti1Image((md * 1000).astype(np.float32), img.affine), out + "/dipy_MD.nii.gz")
else:
    gq = gradient_table(bvals, bvecs=bvecs, btens=btens, b0_threshold=50)
    t = time.perf_counter(); q = qti.QtiModel(gq, fit_method="WLS").fit(data, mask=mask); ufa = q.ufa; qfa = q.fa; qmd = q.md
    res["fit_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    nib.save(nib.Nifti1Image(np.nan_to_num(ufa).astype(np.float32), img.affine), out + "/dipy_microFA.nii.gz")
    nib.save(nib.Nifti1Image(np.nan_to_num(qfa).astype(np.float32), img.affine), out + "/dipy_qtiFA.nii.gz")
res["end_to_end_seconds"] = load_s + res["fit_seconds"] + (time.perf_counter() - t)
json.dump(res, open(out + f"/dipy_{kind}.json", "w"))
'''

def load(path):
    import nibabel as nib, numpy as np
    return np.asarray(nib.load(path).dataobj, dtype=float)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cordq", default=".build/release/cordq")
    ap.add_argument("--python-dipy", default="/work/venv-dipy/bin/python")
    ap.add_argument("--snr", default="50")
    ap.add_argument("--keep", help="keep the work folder here (simulations are reused)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool; the best time is reported")
    ap.add_argument("--single-member", action="store_true", help="rewrite the simulated series as one gzip member first")
    a = ap.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", CORDQ_QUIET="1")
    work = a.keep or tempfile.mkdtemp(prefix="cordq-dipy-")
    os.makedirs(work, exist_ok=True)
    def simulate(name, scheme):
        folder = f"{work}/{name}"
        if not os.path.exists(folder + "/dwi.nii.gz"):
            subprocess.run([a.cordq, "dwi", "simulate", folder, "--scheme", scheme, "--snr", a.snr, "--in-plane", "0.5",
                            "--slice-thickness", "1.5", "--field-of-view", "20", "--z-range=-75,15"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
        return folder
    sim_dti, sim_qti = simulate("sim-dti", "dti"), simulate("sim-lte-ste", "lte-ste")
    if a.single_member:
        import gzip
        for folder in (sim_dti, sim_qti):
            path = folder + "/dwi.nii.gz"
            with gzip.open(path, "rb") as f: raw = f.read()
            with open(path, "wb") as f: f.write(gzip.compress(raw, compresslevel=6))
    def best(times): return min(times)
    def cordq(sim, name, *args):
        times = []
        for _ in range(a.repeats):
            out = f"{work}/{name}"; shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            subprocess.run([a.cordq, "dwi", *args, "--dwi", sim + "/dwi.nii.gz", "--mask", sim + "/mask_cord.nii.gz", "-o", out],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        meta = json.load(open(out + ("/dti.json" if args[0] == "dti" else "/microfa.json")))
        return out, best(times), meta["FitSeconds"]
    def dipy(sim, kind):
        runs = []
        for _ in range(a.repeats):
            subprocess.run([a.python_dipy, "-c", DIPY_FIT, sim, work, kind], check=True, env=env, stderr=subprocess.DEVNULL)
            runs.append(json.load(open(f"{work}/dipy_{kind}.json")))
        return best(r["end_to_end_seconds"] for r in runs), best(r["fit_seconds"] for r in runs)
    # Same outputs as the DIPY side (FA and MD); without --maps CordQ writes 8 maps.
    dti_out, dti_t, dti_fit = cordq(sim_dti, "cordq-dti", "dti", "--maps", "FA,MD")
    qti_out, qti_t, qti_fit = cordq(sim_qti, "cordq-qti", "microfa", "--method", "qti")
    gam_out, gam_t, gam_fit = cordq(sim_qti, "cordq-gamma", "microfa", "--method", "gamma")
    d_dti_t, d_dti_fit = dipy(sim_dti, "dti")
    d_qti_t, d_qti_fit = dipy(sim_qti, "qti")
    import numpy as np
    def med(x, y, m): return float(np.median(np.abs(x[m] - y[m])))
    cord_d, wm_d = load(sim_dti + "/mask_cord.nii.gz") > 0, load(sim_dti + "/mask_wm.nii.gz") > 0
    cord_q, wm_q = load(sim_qti + "/mask_cord.nii.gz") > 0, load(sim_qti + "/mask_wm.nii.gz") > 0
    fa_c, fa_d, fa_t = load(dti_out + "/FA.nii.gz"), load(work + "/dipy_FA.nii.gz"), load(sim_dti + "/truth_FA.nii.gz")
    md_c, md_d = load(dti_out + "/MD.nii.gz"), load(work + "/dipy_MD.nii.gz")
    uq, ud, ug, ut = (load(qti_out + "/microFA.nii.gz"), load(work + "/dipy_microFA.nii.gz"),
                      load(gam_out + "/microFA.nii.gz"), load(sim_qti + "/truth_microFA.nii.gz"))
    qfa_c, qfa_d = load(qti_out + "/FA.nii.gz"), load(work + "/dipy_qtiFA.nii.gz")
    print(f"input series: {'one gzip member (rewritten)' if a.single_member else 'as cordq writes them (1 MiB gzip members)'}")
    print(f"simulated cord phantom, SNR {a.snr}, 0.5×0.5×1.5 mm: DTI scheme (b=0 ×5 + 30 × b=800) {int(cord_d.sum())} cord voxels; "
          f"LTE+STE scheme (b=0 ×4; LTE ×20, STE ×10 at b=500/1000/2000) {int(cord_q.sum())} cord voxels; best of {a.repeats} runs")
    print(f"DTI   median |ΔFA| CordQ vs DIPY TensorModel(WLS), cord: {med(fa_c, fa_d, cord_d):.4f}; |ΔMD| {med(md_c, md_d, cord_d):.4f} µm²/ms"
          f"   (|FA − truth| in WM: CordQ {med(fa_c, fa_t, wm_d):.4f}, DIPY {med(fa_d, fa_t, wm_d):.4f})")
    print(f"QTI   median |ΔμFA| CordQ vs DIPY qti(WLS), cord: {med(uq, ud, cord_q):.4f}; |ΔFA| {med(qfa_c, qfa_d, cord_q):.4f}"
          f"   (|μFA − truth| in WM: CordQ {med(uq, ut, wm_q):.4f}, DIPY {med(ud, ut, wm_q):.4f})")
    print(f"gamma median |ΔμFA| CordQ gamma vs DIPY qti(WLS), cord: {med(ug, ud, cord_q):.4f}   (|μFA − truth| in WM: CordQ gamma {med(ug, ut, wm_q):.4f})")
    print(f"time  DTI   end to end: CordQ {dti_t:.2f} s, DIPY {d_dti_t:.2f} s, DIPY/CordQ {d_dti_t / dti_t:.1f}x;"
          f"  fit only: CordQ {dti_fit:.3f} s, DIPY {d_dti_fit:.3f} s, {d_dti_fit / dti_fit:.1f}x")
    print(f"time  QTI   end to end: CordQ {qti_t:.2f} s, DIPY {d_qti_t:.2f} s, DIPY/CordQ {d_qti_t / qti_t:.1f}x;"
          f"  fit only: CordQ {qti_fit:.3f} s, DIPY {d_qti_fit:.3f} s, {d_qti_fit / qti_fit:.1f}x")
    print(f"time  gamma end to end: CordQ {gam_t:.2f} s (fit {gam_fit:.3f} s); DIPY has no powder-average gamma model")
    if not a.keep: shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
