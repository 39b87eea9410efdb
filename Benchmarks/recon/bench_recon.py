#!/usr/bin/env python3
"""EPI reconstruction: CordQ against the same steps in numpy and in BART, on a realistic-size
simulated acquisition (cordq phantom kspace: 128 × 128, 16 coils, ramp sampling, reference
lines, partial Fourier 6/8, noise scans). Prints timings, their ratios and NRMSE vs the truth.

numpy runs the whole chain (pre-whitening, sinc least-squares ramp regridding, reference-line
ghost correction, oversampling removal, homodyne partial Fourier, FFT, root sum of squares);
BART (Debian `bart` 0.8; its `twixread` cannot read EPI) runs the steps it has on numpy's
regridded, ghost-corrected k-space: `fft -i`, `homodyne`, `rss`. CordQ runs `cordq recon
--coil-combination sos --partial-fourier homodyne` end to end (process start included).

Usage (repository root, after `swift build -c release --product cordq`):
    /work/venv-bench/bin/python Benchmarks/recon/bench_recon.py [--matrix 128] [--coils 16] [--runs 10]
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
import numpy as np
import ismrmrd, nibabel as nib

ap = argparse.ArgumentParser()
ap.add_argument("--matrix", type=int, default=128)
ap.add_argument("--coils", type=int, default=16)
ap.add_argument("--runs", type=int, default=10)
ap.add_argument("--cordq", default=".build/release/cordq")
args = ap.parse_args()
cordq = args.cordq if os.path.exists(args.cordq) else ".build/debug/cordq"
tmp = tempfile.mkdtemp(prefix="cordq-bench-recon-")
env = dict(os.environ, CORDQ_QUIET="1")
subprocess.run([cordq, "phantom", "kspace", tmp + "/ph", "--matrix", str(args.matrix), "--coils", str(args.coils),
                "--partial-fourier", "0.75"], check=True, env=env, stdout=subprocess.DEVNULL)
h5 = tmp + "/ph/epi.h5"
truth = nib.load(tmp + "/ph/truth_combined.nii.gz").get_fdata()[:, :, 0].T   # [y, x]
mask = nib.load(tmp + "/ph/truth_object.nii.gz").get_fdata()[:, :, 0].T > 0.05

def nrmse(img):
    m = np.abs(img)
    a = (m[mask] * truth[mask]).sum() / (m[mask] ** 2).sum()
    return np.linalg.norm(a * m[mask] - truth[mask]) / np.linalg.norm(truth[mask])

# ---- numpy reference chain -------------------------------------------------------------
def cfft(x, axis, inverse):
    n = x.shape[axis]
    f = np.fft.ifft if inverse else np.fft.fft
    return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axis), axis=axis, norm="ortho"), axes=axis)

def load():
    d = ismrmrd.Dataset(h5, "dataset", False)
    hdr = ismrmrd.xsd.CreateFromDocument(d.read_xml_header())
    acqs = [d.read_acquisition(i) for i in range(d.number_of_acquisitions())]
    d.close()
    return hdr, acqs

def numpy_chain(hdr, acqs, stop_before_pf=False):
    enc = hdr.encoding[0]
    nxe, ny = enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y
    centre = enc.encodingLimits.kspace_encoding_step_1.center
    td = {p.name: p.value for p in enc.trajectoryDescription.userParameterLong}
    dwell = enc.trajectoryDescription.userParameterDouble[0].value
    ru, ft, rd, delay, ns = td["rampUpTime"], td["flatTopTime"], td["rampDownTime"], td["acqDelayTime"], td["numSamples"]
    def area(t):
        t = np.clip(t, 0, ru + ft + rd)
        return np.where(t <= ru, 0.5 * t * t / ru, np.where(t <= ru + ft, 0.5 * ru + (t - ru),
                        0.5 * ru + ft + 0.5 * rd - 0.5 * (ru + ft + rd - t) ** 2 / rd))
    read_area = area(delay + ns * dwell) - area(delay)
    k = (area(delay + (np.arange(ns) + 0.5) * dwell) - 0.5 * area(ru + ft + rd)) / (read_area / nxe)
    grid = np.arange(nxe) - nxe // 2
    def op(pos):
        q = np.sinc(pos[:, None] - grid[None, :])
        a = q.T @ q
        a += 1e-6 * np.trace(a) / nxe * np.eye(nxe)
        return np.linalg.solve(a, q.T)
    mpos, mneg = op(k), op(-k)
    noise = np.concatenate([a.data for a in acqs if a.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)], axis=1)
    psi = noise @ noise.conj().T / noise.shape[1]
    w = np.linalg.inv(np.linalg.cholesky(psi))
    def hybrid(a):
        m = mneg if a.is_flag_set(ismrmrd.ACQ_IS_REVERSE) else mpos
        return cfft((w @ a.data) @ m.T, 1, True)          # coils × x
    refs = [a for a in acqs if a.is_flag_set(ismrmrd.ACQ_IS_PHASECORR_DATA)]
    f = np.mean([hybrid(a) for a in refs if not a.is_flag_set(ismrmrd.ACQ_IS_REVERSE)], axis=0)
    r = np.mean([hybrid(a) for a in refs if a.is_flag_set(ismrmrd.ACQ_IS_REVERSE)], axis=0)
    z = (f * r.conj()).sum(0)
    b = np.angle((z[1:] * z[:-1].conj()).sum())
    u = np.arange(nxe) - nxe // 2
    a0 = np.angle((z * np.exp(-1j * b * u)).sum())
    corr = np.exp(1j * (a0 + b * u))
    img = [a for a in acqs if not (a.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) or a.is_flag_set(ismrmrd.ACQ_IS_PHASECORR_DATA))]
    nc = img[0].data.shape[0]
    kspace = np.zeros((nc, ny, nxe // 2), complex)
    acquired = np.zeros(ny, bool)
    for a in img:
        h = hybrid(a)
        if a.is_flag_set(ismrmrd.ACQ_IS_REVERSE):
            h = h * corr
        row = a.idx.kspace_encode_step_1 - centre + ny // 2
        kspace[:, row] = h[:, nxe // 4: 3 * nxe // 4]
        acquired[row] = True
    kspace = cfft(kspace, 2, False)                        # back to kx for BART
    if stop_before_pf:
        return kspace, acquired
    return homodyne_rss(kspace, acquired), kspace, acquired

def homodyne_rss(kspace, acquired):
    ny = kspace.shape[1]
    rows = np.where(acquired)[0]
    c = ny // 2
    half = min(c - rows[0], rows[-1] - c)
    wts = np.where(~acquired, 0.0, 2.0)
    wts[c - half:c + half + 1] = 1.0
    ham = np.zeros(ny)
    rr = np.arange(c - half, c + half + 1)
    ham[rr] = 0.54 + 0.46 * np.cos(np.pi * (rr - c) / (half + 1))
    low = cfft(cfft(kspace * ham[None, :, None], 1, True), 2, True)
    ph = np.exp(1j * np.angle(low))
    im = cfft(cfft(kspace * wts[None, :, None], 1, True), 2, True)
    coil = np.real(im * ph.conj())
    return np.sqrt((coil ** 2).sum(0))

def timed(fn, runs):
    best = []
    for _ in range(runs):
        t = time.perf_counter(); out = fn(); best.append(time.perf_counter() - t)
    return np.median(best), out

hdr, acqs = load()
t_np, (img_np, ksp, acq) = timed(lambda: numpy_chain(*load()), args.runs)
t_np_steps, _ = timed(lambda: homodyne_rss(ksp, acq), args.runs)

# ---- BART on the same regridded, ghost-corrected k-space --------------------------------
bart = shutil.which("bart")
t_bart = float("nan")
if bart:
    def cfl(name, arr):
        a = np.asfortranarray(arr.astype(np.complex64))
        with open(name + ".hdr", "w") as f:
            f.write("# Dimensions\n" + " ".join(str(s) for s in list(a.shape) + [1] * (16 - a.ndim)) + "\n")
        a.ravel(order="F").tofile(name + ".cfl")
    # BART dims: 0 = x (read), 1 = y (phase), 3 = coils.
    cfl(tmp + "/k", np.transpose(ksp, (2, 1, 0))[:, :, None, :])
    frac = (len(acq) - np.argmax(acq)) / len(acq)      # fraction of ky acquired
    def run_bart():
        subprocess.run([bart, "fft", "-i", "3", tmp + "/k", tmp + "/i"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([bart, "homodyne", "1", f"{frac}", tmp + "/i", tmp + "/h"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([bart, "rss", "8", tmp + "/h", tmp + "/r"], check=True, stdout=subprocess.DEVNULL)
    t_bart, _ = timed(run_bart, args.runs)

# ---- CordQ end to end --------------------------------------------------------------------
def run_cordq():
    subprocess.run([cordq, "recon", h5, tmp + "/cq.nii.gz", "--coil-combination", "sos", "--partial-fourier", "homodyne"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
t_cq, _ = timed(run_cordq, args.runs)
img_cq = nib.load(tmp + "/cq.nii.gz").get_fdata()[:, :, 0].T

print(f"data: {args.matrix}×{args.matrix}, {args.coils} coils, ramp sampling, 6/8 partial Fourier; median of {args.runs} runs")
print(f"cordq ({os.path.basename(os.path.dirname(cordq))}) recon end to end : {t_cq * 1000:8.1f} ms   NRMSE vs truth {nrmse(img_cq):.4f}")
print(f"numpy same chain (read + all steps)  : {t_np * 1000:8.1f} ms   NRMSE vs truth {nrmse(img_np):.4f}")
print(f"ratio numpy / cordq                  : {t_np / t_cq:8.2f}")
print(f"numpy fft + homodyne + rss only      : {t_np_steps * 1000:8.1f} ms")
if bart:
    print(f"BART fft -i + homodyne + rss (3 calls): {t_bart * 1000:8.1f} ms   ratio BART / cordq end to end {t_bart / t_cq:.2f}")
else:
    print("BART not installed (apt-get install bart): its timing skipped")
shutil.rmtree(tmp)
