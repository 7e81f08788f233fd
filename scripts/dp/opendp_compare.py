#!/usr/bin/env python3
"""DP mean of the same bounded data with phiveil and with OpenDP, side by side.

Both release the mean of n heart-rate values bounded to [20, 250] over a public cohort
size as a noisy sum / n, one noise draw per release, "change one patient" neighbours
(sensitivity 230; OpenDP: sized sum under symmetric distance at d_in = 2):
- pure ε: discrete Laplace (phiveil: CKS20 exact sampler; OpenDP: then_laplace on ints),
- ρ-zCDP: discrete Gaussian (phiveil: CKS20; OpenDP: then_gaussian on ints).
Prints mean absolute error and RMSE over R releases, the ratio phiveil / OpenDP (≈ 1 means
the same accuracy at the same privacy), time per release, and the zCDP → (ε, δ)
conversion of both libraries.
Usage: opendp_compare.py PHIVEIL_DP_MEAN_BINARY [REPS]
"""

import json
import random
import subprocess
import sys
import time
from importlib.metadata import version

import opendp.prelude as dp

dp.enable_features("contrib")
LO, HI, N = 20, 250, 500


def opendp_errors(data, mech, param, reps):
    dom = dp.vector_domain(dp.atom_domain(bounds=(LO, HI)), size=len(data))
    s = dp.t.make_sum(dom, dp.symmetric_distance())
    if mech == "laplace":
        meas = dp.binary_search_chain(lambda sc: s >> dp.m.then_laplace(scale=sc), d_in=2, d_out=param)
    else:
        meas = dp.binary_search_chain(lambda sc: s >> dp.m.then_gaussian(scale=sc), d_in=2, d_out=param)
    truth = sum(data) / len(data)
    t0 = time.perf_counter()
    errs = [meas(data) / len(data) - truth for _ in range(reps)]
    ms = (time.perf_counter() - t0) * 1e3 / reps
    return {"mean_abs_error": sum(abs(e) for e in errs) / reps,
            "rmse": (sum(e * e for e in errs) / reps) ** 0.5, "ms_per_release": ms,
            "privacy": meas.map(2)}


def main():
    binary = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rng = random.Random(7)
    data = [max(LO, min(HI, int(rng.gauss(78, 14)))) for _ in range(N)]
    print(f"OpenDP {version('opendp')} vs phiveil, n = {N}, values in [{LO}, {HI}], {reps} releases each\n")
    print("| mechanism | budget | phiveil MAE | OpenDP MAE | MAE ratio (phiveil/OpenDP) | phiveil RMSE | OpenDP RMSE | phiveil ms/release | OpenDP ms/release |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for mech, params in (("laplace", (0.5, 1.0, 2.0)), ("gaussian", (0.125, 0.5, 2.0))):
        for p in params:
            out = subprocess.run([binary, str(LO), str(HI), mech, str(p), str(reps), "11"],
                                 input="\n".join(map(str, data)), capture_output=True, text=True, check=True)
            ours = json.loads(out.stdout)
            theirs = opendp_errors(data, mech, p, reps)
            budget = f"ε = {p}" if mech == "laplace" else f"ρ = {p}"
            print(f"| discrete {mech} | {budget} | {ours['mean_abs_error']:.4f} | {theirs['mean_abs_error']:.4f} | "
                  f"{ours['mean_abs_error'] / theirs['mean_abs_error']:.2f} | {ours['rmse']:.4f} | {theirs['rmse']:.4f} | "
                  f"{ours['ms_per_release']:.4f} | {theirs['ms_per_release']:.4f} |")
    dom = dp.vector_domain(dp.atom_domain(bounds=(LO, HI)), size=N)
    g = dp.t.make_sum(dom, dp.symmetric_distance()) >> dp.m.then_gaussian(scale=230.0)
    prof = dp.c.make_zCDP_to_approxDP(g).map(2)
    print(f"\nzCDP → (ε, δ): OpenDP, ρ = 0.5, δ = 1e-5: ε = {prof.epsilon(1e-5):.6f} "
          "(phiveil's value is asserted equal in wasm-core/src/dp/tests.rs)")


if __name__ == "__main__":
    main()
