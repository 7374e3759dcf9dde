"""Chart of build/bench.json (run in the bench-plot venv): bench/plot.py BENCH.json OUT.png"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    R = json.load(open(sys.argv[1]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 2.4]})

    # Left: per-call difference (ns), with IQR of the paired rounds.
    if "micro" in R:
        names = list(R["micro"])
        d = [R["micro"][c]["delta_ns_per_call"] for c in names]
        lo = [R["micro"][c]["delta_ns_per_call"] - R["micro"][c]["delta_iqr_per_call"][0] for c in names]
        hi = [R["micro"][c]["delta_iqr_per_call"][1] - R["micro"][c]["delta_ns_per_call"] for c in names]
        cols = ["tab:green" if x <= 2 else "tab:red" for x in d]
        ax1.bar(range(len(names)), d, yerr=[lo, hi], color=cols, capsize=4)
        ax1.set_yscale("symlog", linthresh=10)
        for i, v in enumerate(d):
            ax1.annotate("%+.1f ns" % v, (i, v), ha="center", va="bottom" if v >= 0 else "top",
                         fontsize=8, xytext=(0, 3 if v >= 0 else -3), textcoords="offset points")
        ax1.axhline(2, color="k", ls="--", lw=1)
        ax1.axhline(0, color="grey", lw=0.8)
        ax1.text(len(names) - 0.5, 2, " goal +2 ns", va="bottom", ha="right", fontsize=8)
        labels = []
        for c in names:
            cg = R.get("callgrind", {}).get(c, {})
            extra = "\n%+.0f instr" % cg["delta_ir_per_call"] if "delta_ir_per_call" in cg else ""
            labels.append(c + extra)
        ax1.set_xticks(range(len(names)), labels, fontsize=8)
        ax1.set_ylabel("ns per intercepted call, with - without shim")
        ax1.set_title("Bystander calls (median of paired rounds, IQR)", fontsize=10)

    # Right: wall-time ratios with/without, per workload.
    bars = []  # (label, ratio, lo, hi, goal)
    if "serial" in R:
        for k in ("fresh", "incremental"):
            v = R["serial"][k]
            bars.append(("serial\n%s" % ("fresh" if k == "fresh" else "rerun"), v["ratio"],
                         v["ratio_iqr"][0], v["ratio_iqr"][1], 1.01, v.get("cpu_ratio")))
    if "xdist" in R:
        keys = sorted(R["xdist"]["walls"], key=lambda k: (k.split("/")[0], int(k.split("/n")[1])))
        for k in keys:
            v = R["xdist"]["walls"][k]
            s, n = k.split("/n")
            bars.append(("%s\n-n %s" % (s, n), v["ratio"], v["ratio_iqr"][0], v["ratio_iqr"][1], 1.03,
                         v.get("cpu_ratio")))
        for k, v in sorted(R["xdist"]["upstream"].items(), key=lambda kv: int(kv[0][1:])):
            bars.append(("2.1.3+shim\nvs 2.2.0\n-n %s" % k[1:], v["ratio"], v["ratio_iqr"][0],
                         v["ratio_iqr"][1], 1.0, v.get("cpu_ratio")))
    if bars:
        x = list(range(len(bars)))
        r = [b[1] for b in bars]
        lo = [max(0, b[1] - b[2]) for b in bars]
        hi = [max(0, b[3] - b[1]) for b in bars]
        cols = ["tab:green" if b[1] <= b[4] else "tab:red" for b in bars]
        ax2.bar([i - 0.2 for i in x], [v - 1 for v in r], width=0.4, bottom=1, yerr=[lo, hi],
                color=cols, capsize=3, label="wall time (goal: green if met)")
        cpu = [b[5] if b[5] else 1 for b in bars]
        ax2.bar([i + 0.2 for i in x], [v - 1 for v in cpu], width=0.4, bottom=1, color="0.6",
                label="CPU time, user+sys of the tree")
        top = max(1.15, min(1.5, max(r + cpu) + 0.03))
        bot = min(0.85, max(0.5, min(r + cpu) - 0.03))
        ax2.set_ylim(bot, top)
        for i, b in enumerate(bars):
            ax2.plot([i - 0.45, i + 0.45], [b[4], b[4]], color="k", ls="--", lw=1)
            ax2.annotate("x%.3f" % b[1], (i - 0.2, min(b[1], top)), ha="center", fontsize=6,
                         va="bottom" if b[1] >= 1 else "top", rotation=90,
                         xytext=(0, 2 if b[1] >= 1 else -2), textcoords="offset points")
        ax2.legend(fontsize=7, loc="upper left")
        ax2.axhline(1, color="grey", lw=0.8)
        ax2.set_xticks(list(x), [b[0] for b in bars], fontsize=7)
        ax2.set_ylabel("wall time ratio, with / without shim")
        ax2.set_title("pytest --testmon wall time (median ratio, paired-ratio IQR; dashes: goal)",
                      fontsize=10)
    m = R.get("meta", {})
    fig.suptitle("testmon-shim overhead, %s, %s cores, load %.1f, %d tests%s" % (
        m.get("started", "?"), m.get("nproc", "?"), (m.get("loadavg_start") or [0])[0],
        m.get("tests", 0), " (QUICK)" if m.get("quick") else ""), fontsize=11)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
