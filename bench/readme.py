#!/usr/bin/env python3
"""Put the last `make bench` table into docs/performance.md (between its bench-table markers,
which are appended if missing) and copy the chart to bench/bench.png.
  bench/readme.py BUILD/bench.md BUILD/bench.png"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def main():
    table_md, png = sys.argv[1], sys.argv[2]
    table = open(table_md).read().rstrip("\n")
    meta = json.load(open(os.path.join(os.path.dirname(table_md), "bench.json")))["meta"]
    head = ("`make bench`, %s, %d cores, load average %.1f at the start, %d tests in %d modules, "
            "Python %s, %.0f s:" % (meta["started"], meta["nproc"], meta["loadavg_start"][0],
                                   meta["tests"], meta["modules"],
                                   os.path.basename(meta["python"]).replace("python", ""),
                                   meta["seconds"]))
    block = "%s\n%s\n\n%s\n\n![make bench](../bench/bench.png)\n%s" % (BEGIN, head, table, END)
    path = os.path.join(REPO, "docs", "performance.md")
    text = open(path).read()
    if BEGIN in text:
        pre, rest = text.split(BEGIN, 1)
        text = pre + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    shutil.copyfile(png, os.path.join(HERE, "bench.png"))


if __name__ == "__main__":
    main()
