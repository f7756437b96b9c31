#!/usr/bin/env python3
# Coverage over time from a `cargo fuzz run ... -fork=1` log: one row every 5 minutes, then
# the edges (cov) and features (ft) gained in the last 10, 15 and 20 minutes, the figures
# fuzz/README.md gives to say how flat a curve is. Usage: python3 curve.py LOG...
import re
import sys

for path in sys.argv[1:]:
    rows = []
    for line in open(path, errors="replace"):
        m = re.match(r"#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s: (\d+) oom/timeout/crash: (\S+) time: (\d+)s", line)
        if m:
            n, cov, ft, corp, eps, otc, t = m.groups()
            rows.append((int(t), int(n), int(cov), int(ft), int(corp), otc))
    print("==", path, len(rows), "rows")
    next_mark = 300
    for r in rows:
        if r[0] >= next_mark:
            next_mark = (r[0] // 300 + 1) * 300
            print("  t=%5ds execs=%9d cov=%6d ft=%6d corp=%5d o/t/c=%s" % r)
    if rows:
        r = rows[-1]
        print("  last t=%5ds execs=%9d cov=%6d ft=%6d corp=%5d o/t/c=%s" % r)
        for window in (600, 900, 1200):
            before = [x for x in rows if x[0] <= r[0] - window]
            if before:
                b = before[-1]
                print("  last %4ds: +%d cov (%.2f%%), +%d ft (%.2f%%), +%d execs" % (window, r[2]-b[2], 100*(r[2]-b[2])/b[2], r[3]-b[3], 100*(r[3]-b[3])/b[3], r[1]-b[1]))
