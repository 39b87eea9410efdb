#!/usr/bin/env python3
"""Reads a twix file with twixtools (the peer reader) and prints the numbers CordQ's reader
must reproduce: scans, channels, samples, flag and counter counts, geometry, and data sums.
Usage: python twixtools_reference.py ../shared/data/raw/epi.dat"""
import sys
import numpy as np
import twixtools

path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/raw/epi.dat"
tw = twixtools.read_twix(path, parse_data=True, verbose=False)
m = tw[-1]
mdb = [x for x in m["mdb"] if not x.is_flag_set("ACQEND") and not x.is_flag_set("SYNCDATA")]
print("measurements", len(tw))
print("scans", len(mdb))
print("channels", sorted({x.data.shape[0] for x in mdb}))
print("samples", sorted({x.data.shape[1] for x in mdb}))
for f in ["PHASCOR", "REFLECT", "RTFEEDBACK", "FIRSTSCANINSLICE", "LASTSCANINSLICE", "LASTSCANINMEAS", "NOISEADJSCAN"]:
    print("flag", f, sum(x.is_flag_set(f) for x in mdb))
for c in ["Lin", "Ave", "Sli", "Seg", "Rep"]:
    v = [getattr(x.mdh.Counter, c) for x in mdb]
    print("counter", c, "min", min(v), "max", max(v), "nonzero", sum(1 for a in v if a))
print("ave_nonzero_scans", [i for i, x in enumerate(mdb) if x.mdh.Counter.Ave])
print("centre_line", sorted({x.mdh.CenterLin for x in mdb}), "centre_col", sorted({x.mdh.CenterCol for x in mdb}))
d = np.stack([x.data for x in mdb])  # scans x channels x samples
for c in range(d.shape[1]):
    print("channel", c, "sum_abs2 %.9e" % float(np.sum(np.abs(d[:, c]) ** 2)))
print("scan3_ch1_s17 %.9e %.9e" % (d[3, 1, 17].real, d[3, 1, 17].imag))
print("scan82_ch0_s159 %.9e %.9e" % (d[82, 0, 159].real, d[82, 0, 159].imag))
x = mdb[3].mdh.SliceData
print("position", [float(v) for v in (x.SlicePos.Sag, x.SlicePos.Cor, x.SlicePos.Tra)])
print("quaternion", [float(v) for v in x.Quaternion])
rot = twixtools.geometry.quat_to_rotmat(*x.Quaternion)
print("rotmat_columns(phase,read,slice)", np.round(rot.T, 6).tolist())
y = m["hdr"]["MeasYaps"]; me = m["hdr"]["Meas"]
print("ramp", me["alRegridRampupTime"][0], me["alRegridFlattopTime"][0], me["alRegridRampdownTime"][0],
      me["alRegridDelaySamplesTime"][0], y["sRXSPEC"]["alDwellTime"][0] / 1000)
print("matrix", y["sKSpace"]["lBaseResolution"], y["sKSpace"]["lPhaseEncodingLines"], me["iNoOfFourierColumns"])
