#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""perf2pprof on malformed input: the fuzz corpus and truncated copies of real recordings.

(a) every file in $PPS_CORPUS/fuzz: `--info FILE`, `--info --json FILE` and
    `cat FILE | --info --json -` (20 s timeout each): no crash, no hang, no sanitizer report,
    exit code in {0,1,3}; exit 1/3 => non-empty stderr naming the input file (for a path);
    exit 0/3 with --json => one JSON object on stdout.
(b) truncated copies of a selection of recordings (file mode, pipe mode, 3.x, intel_pt,
    branch stacks, and a perf record -z file made at test time when perf record works), cut at
    ~50 deterministic offsets each: inside the header and the attrs, at record boundaries and
    in the middle of records in the data section, inside the feature sections, at fractions of
    the size. Run `--info --json` on each (and through a pipe for every third offset):
      * sane, exit in {0,1,3}; exit 1/3 => non-empty stderr naming the file
      * exit 3 => JSON printed, truncated==true or bad_records>0, no more events than the
        whole file and each event's samples <= the whole file's
      * exit 0 => allowed only where the cut cannot be seen: file mode cut at/after the end of
        the data section (only features are lost: all counts must equal the whole file's),
        or pipe mode cut exactly at a record boundary (counts <= the whole file's)
(c) conversion: every fuzz input and every fourth cut is converted with `--all -o DIR`
    (symbolized, or --no-symbolize for half the cuts): sane, exit in {0,1,3} agreeing with
    --info's verdict on damage, the file named on exit 1/3, every profile a whole gzip file.
"""

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402

TIMEOUT = 20
MAX_OFFSETS = 56

TRUNC_FILES = [
    "perf.data.lost_samples-4.4",                    # file mode, 4.x, LOST_SAMPLES
    "perf.data.piped.header_feautres_group_desc-6.8",  # pipe mode, 6.8, FEATURE records
    "perf.data.piped.lost_samples-4.4",              # pipe mode, 4.x
    "perf.data.remmap-3.2",                          # old 3.x file
    "perf.data.callgraph-3.4",                       # 3.x, callchains
    "perf.data.intel_pt-4.14",                       # AUX / AUXTRACE payloads
    "perf.data.branch_stack_spec",                   # newer file mode, KSYMBOL/BPF_EVENT
]

MAGIC2 = b"PERFILE2"


# ------------------------------------------------------------------ perf.data layout

class Layout:
    """Where things are in a perf.data file (enough to pick interesting cut points)."""

    def __init__(self):
        self.mode = None          # "file" | "pipe" | None (unknown)
        self.header_end = 0
        self.attrs = None         # (offset, size)
        self.data = None          # (offset, size)
        self.data_end = 0
        self.features = []        # [(offset, size)]
        self.boundaries = []      # record start offsets (and the end of the last record)
        self.records = []         # [(offset, size_including_payload)]


def parse_layout(buf):
    lo = Layout()
    if len(buf) < 16:
        return lo
    if buf[:8] == MAGIC2:
        end = "<"
    elif buf[:8] == MAGIC2[::-1]:
        end = ">"
    else:
        return lo
    hsize = struct.unpack(end + "Q", buf[8:16])[0]
    if hsize == 16:
        lo.mode = "pipe"
        lo.header_end = 16
        start, stop = 16, len(buf)
    else:
        lo.mode = "file"
        if len(buf) < 104:
            return lo
        (_, hsize, _attr_size, a_off, a_size, d_off, d_size, _t_off, _t_size) = \
            struct.unpack(end + "9Q", buf[:72])
        feat_bits = int.from_bytes(buf[72:104], "little")
        lo.header_end = hsize
        lo.attrs = (a_off, a_size)
        lo.data = (d_off, d_size)
        if d_size == 0:
            d_size = max(0, len(buf) - d_off)
        lo.data_end = d_off + d_size
        start, stop = d_off, min(d_off + d_size, len(buf))
        nfeat = bin(feat_bits).count("1")
        tab = lo.data_end
        for i in range(nfeat):
            p = tab + 16 * i
            if p + 16 > len(buf):
                break
            lo.features.append(struct.unpack(end + "QQ", buf[p:p + 16]))
    off = start
    while off + 8 <= stop:
        typ, _misc, size = struct.unpack(end + "IHH", buf[off:off + 8])
        if size < 8:
            break
        total = size
        if typ == 71 and off + 16 <= stop:      # AUXTRACE: payload follows the record
            total += struct.unpack(end + "Q", buf[off + 8:off + 16])[0]
        elif typ == 66 and lo.mode == "pipe" and off + 12 <= stop:  # TRACING_DATA payload
            total += struct.unpack(end + "I", buf[off + 8:off + 12])[0]
        lo.boundaries.append(off)
        lo.records.append((off, total))
        off += total
    if off <= stop:
        lo.boundaries.append(off)
    if lo.mode == "pipe":
        lo.data_end = off
    return lo


def spread(seq, n):
    """n elements evenly spread over seq (deterministic), keeping order."""
    if len(seq) <= n:
        return list(seq)
    return [seq[(i * (len(seq) - 1)) // (n - 1)] for i in range(n)] if n > 1 else [seq[0]]


def cut_points(buf, lo):
    """~50 deterministic cut offsets, by region (header, attrs, data boundaries, mid-record,
    feature sections), then fractions of the size plus small primes and the last byte."""
    size = len(buf)
    pts = []
    if lo.mode == "file":
        pts += [0, 1, 8, 16, 40, 72, 103]
        if lo.attrs:
            a, s = lo.attrs
            pts += [a, a + 8, a + s // 2, a + s - 1]
    else:
        pts += [0, 1, 8, 15]
    if lo.records:
        pts += [lo.boundaries[0], lo.boundaries[0] + 4]
        pts += [off for off, _ in lo.records[1:3]]
        pts += spread(lo.boundaries[3:], 6)
        for off, sz in spread(lo.records, 5):
            pts += [off + 3, off + 8, off + sz // 2, off + sz - 1]
    if lo.mode == "file":
        pts += [lo.data_end, lo.data_end + 8, lo.data_end + 16 * len(lo.features) // 2 + 3]
        pts += [off + sz // 2 for off, sz in spread(lo.features, 6)]
    primes = (2, 3, 5, 7, 11, 13)
    pts += [size * k // 7 + primes[k - 1] for k in range(1, 7)]
    pts.append(size - 1)
    seen, out = set(), []
    for p in pts:
        if 0 <= p < size and p not in seen:
            seen.add(p)
            out.append(p)
    return sorted(out[:MAX_OFFSETS])


def classify(off, lo):
    if lo.mode == "file":
        if off < lo.data[0]:
            return "header/attrs"
        if off < lo.data_end:
            return "data-boundary" if off in lo.boundaries else "data-mid"
        return "features"
    if lo.mode == "pipe":
        if off < 16:
            return "header"
        return "data-boundary" if off in lo.boundaries else "data-mid"
    return "unknown"


# ------------------------------------------------------------------ checks

def basic_problems(r, path, ours, jerr, json_mode, name_check=True):
    p = list(r.problems())
    if p:
        return p + [f"stderr: {r.err_head(200)}"]
    if r.rc not in (0, 1, 3):
        p.append(f"exit {r.rc} not in {{0,1,3}}: {r.err_head(200)}")
    if r.rc in (1, 3):
        err = r.err_text
        if not err.strip():
            p.append(f"exit {r.rc} with empty stderr")
        elif name_check and path not in err and os.path.basename(path) not in err:
            p.append(f"exit {r.rc}: stderr does not name the file: {r.err_head(200)}")
    if json_mode and r.rc in (0, 3) and jerr:
        p.append(f"exit {r.rc} but {jerr}")
    return p


def run_fuzz(c):
    ours_bin = T.perf2pprof()
    for f in T.corpus_files("fuzz"):
        name = os.path.basename(f)
        problems, rcs = [], []
        r = T.run([ours_bin, "--info", f], TIMEOUT)
        problems += [f"--info: {x}" for x in basic_problems(r, f, None, None, False)]
        rcs.append(r.rc)
        r, ours, jerr = T.ours_json(f, TIMEOUT)
        problems += [f"--json: {x}" for x in basic_problems(r, f, ours, jerr, True)]
        rcs.append(r.rc)
        if ours is not None and r.rc == 3 and not (ours.get("truncated") or
                                                   ours.get("bad_records")):
            problems.append("--json: exit 3 but neither truncated nor bad_records>0")
        r, ours2, jerr = T.ours_json("-", TIMEOUT, pipe_from=["cat", f])
        problems += [f"stdin: {x}" for x in basic_problems(r, "-", ours2, jerr, True, False)]
        rcs.append(r.rc)
        p, rc = convert_problems(f, info_rc=rcs[1])
        problems += p
        rcs.append(rc)
        c.result(f"fuzz {name}", problems, f"exit codes (text, json, stdin, convert) {rcs}")


def convert_problems(path, info_rc=None, symbolize=True):
    """`perf2pprof --all -o DIR FILE` on a malformed file: sane, exit in {0,1,3}, the file named
    on exit 1/3, every profile written readable as gzip. A file --info reads with exit 0
    must convert with exit 0 or 1 (1: nothing to convert); 3 from --info means 3 or 1 here."""
    out = tempfile.mkdtemp(prefix="pps-fuzzconv-")
    try:
        argv = [T.perf2pprof(), "--all", "-o", out, path] + ([] if symbolize else
                                                            ["--no-symbolize"])
        r = T.run(argv, TIMEOUT)
        p = [f"convert: {x}" for x in basic_problems(r, path, None, None, False)]
        if not p and info_rc is not None:
            if info_rc == 0 and r.rc == 3:
                p.append("convert: exit 3 where --info found no damage")
            if info_rc == 3 and r.rc == 0:
                p.append("convert: exit 0 where --info reported damage")
        for f in os.listdir(out):
            try:
                with gzip.open(os.path.join(out, f)) as fh:
                    fh.read()
            except (OSError, EOFError) as e:
                p.append(f"convert: {f} is not a whole gzip file: {e}")
        return p, r.rc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def check_cut(whole, lo, off, r, ours, jerr, path, via_stdin):
    cls = classify(off, lo)
    p = basic_problems(r, path, ours, jerr, True, name_check=not via_stdin)
    if p or r.rc == 1:
        if r.rc == 1 and cls in ("features",) and lo.mode == "file":
            p.append("exit 1 for a cut inside the feature section (data is complete)")
        return p, cls
    wev = whole.get("events", [])
    if r.rc == 3:
        if not (ours.get("truncated") or ours.get("bad_records")):
            p.append("exit 3 but truncated=false and bad_records=0")
    if ours is not None:
        oev = ours.get("events", [])
        if len(oev) > len(wev):
            p.append(f"{len(oev)} events > whole file's {len(wev)}")
        for i, (a, b) in enumerate(zip(oev, wev)):
            if (a.get("samples") or 0) > (b.get("samples") or 0):
                p.append(f"event {i} ({a.get('name')}) samples {a.get('samples')} > whole "
                         f"file's {b.get('samples')}")
        if (ours.get("samples") or 0) > (whole.get("samples") or 0):
            p.append(f"samples {ours.get('samples')} > whole file's {whole.get('samples')}")
    if r.rc == 0:
        if lo.mode == "file" and cls == "features":
            keys = ("records", "total_records", "samples", "lost_samples", "lost")
            d = T.dict_diff({k: ours.get(k) for k in keys}, {k: whole.get(k) for k in keys})
            d += T.dict_diff([e.get("samples") for e in ours.get("events", [])],
                             [e.get("samples") for e in wev])
            if d:
                p.append("exit 0 after a feature-section cut but counts differ from the whole "
                         "file: " + "; ".join(d[:4]))
        elif lo.mode == "pipe" and cls == "data-boundary":
            pass  # a pipe stream cut at a record boundary is indistinguishable from its end
        else:
            p.append(f"exit 0 for a cut in {cls} (truncation not reported): "
                     f"total_records {ours.get('total_records')} vs whole "
                     f"{whole.get('total_records')}, truncated={ours.get('truncated')}")
    return p, cls


def run_truncations(c, files, tmp):
    for src in files:
        name = os.path.basename(src)
        if not os.path.exists(src):
            c.result(f"truncate {name}", [f"missing input {src}"])
            continue
        with open(src, "rb") as fh:
            buf = fh.read()
        lo = parse_layout(buf)
        r, whole, jerr = T.ours_json(src, 120)
        wp = r.problems()
        if wp or r.rc != 0 or jerr:
            c.result(f"truncate {name}", [f"whole file: exit {r.rc}; {wp} {jerr or ''} "
                                          f"{r.err_head(200)}"])
            continue
        offs = cut_points(buf, lo)
        fails, by_rc, by_cls = [], {}, {}
        for i, off in enumerate(offs):
            cut = os.path.join(tmp, f"{name}.cut{off}")
            with open(cut, "wb") as fh:
                fh.write(buf[:off])
            variants = [(False, cut)]
            if i % 3 == 0:
                variants.append((True, cut))
            for via_stdin, path in variants:
                if via_stdin:
                    r, ours, jerr = T.ours_json("-", TIMEOUT, pipe_from=["cat", path])
                else:
                    r, ours, jerr = T.ours_json(path, TIMEOUT)
                p, cls = check_cut(whole, lo, off, r, ours, jerr, path, via_stdin)
                if not via_stdin and i % 4 == 0:
                    cp, _ = convert_problems(path, info_rc=r.rc, symbolize=i % 8 == 0)
                    p += cp
                by_rc[r.rc] = by_rc.get(r.rc, 0) + 1
                by_cls.setdefault(cls, set()).add(r.rc)
                if p:
                    fails.append(f"cut@{off} ({cls}{', stdin' if via_stdin else ''}, "
                                 f"exit {r.rc}): " + "; ".join(p))
            os.unlink(cut)
        detail = (f"{lo.mode} mode, {len(lo.records)} records, {len(offs)} cuts; exit codes "
                  f"{dict(sorted(by_rc.items(), key=lambda kv: str(kv[0])))}; by region "
                  f"{ {k: sorted(v, key=str) for k, v in sorted(by_cls.items())} }")
        if fails:
            c.result(f"truncate {name}", [f"{len(fails)} bad cut(s) of {len(offs)}: "]
                     + fails[:8] + ([f"... {len(fails) - 8} more"] if len(fails) > 8 else []))
            print(f"     ({detail})")
        else:
            c.result(f"truncate {name}", [], detail)


def record_z(tmp):
    perf = T.perf_bin()
    if not perf:
        return None, "perf not installed"
    out = os.path.join(tmp, "perf.data.z-recorded")
    argv = [perf, "record", "-z", "-e", "cpu-clock", "-F", "999", "-g", "-o", out, "--",
            sys.executable, "-c",
            "import time\nt = time.time()\nwhile time.time() - t < 0.3: pass\n"]
    try:
        cp = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=T.quiet_env(), timeout=60)
    except subprocess.TimeoutExpired:
        return None, "perf record -z timed out"
    if cp.returncode != 0 or not os.path.exists(out):
        return None, cp.stderr.decode("utf-8", "replace").strip()[:200]
    return out, ""


class Checker:
    def __init__(self):
        self.npass = self.nfail = self.nskip = 0

    def result(self, name, problems, detail=""):
        if problems:
            self.nfail += 1
            print(f"FAIL {name}: " + "\n     ".join(problems), flush=True)
        else:
            self.npass += 1
            print(f"PASS {name}" + (f": {detail}" if detail else ""), flush=True)

    def skip(self, name, why):
        self.nskip += 1
        print(f"SKIP {name}: {why}", flush=True)


def main():
    T.perf2pprof()
    c = Checker()
    run_fuzz(c)
    tmp = tempfile.mkdtemp(prefix="pps-trunc-")
    try:
        pd = os.path.join(T.corpus_dir(), "perf-data")
        files = [os.path.join(pd, f) for f in TRUNC_FILES]
        z, why = record_z(tmp)
        if z:
            keep = os.path.join(tmp, "z")
            os.mkdir(keep)
            files.append(shutil.move(z, os.path.join(keep, os.path.basename(z))))
        else:
            c.skip("truncate perf record -z file", f"cannot record one here: {why}")
        run_truncations(c, files, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    T.summary(c.npass, c.nfail, c.nskip)
    return 0 if c.nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
