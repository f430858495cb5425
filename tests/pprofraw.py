# SPDX-License-Identifier: BSD-2-Clause
"""The real Go pprof as the reader of our profiles (Python 3 stdlib only).

`pprof -raw` prints a profile as text (github.com/google/pprof/profile Profile.String):
  PeriodType: cpu nanoseconds
  Period: 1000000
  Samples:
  samples/count cpu/nanoseconds
            3    3000000: 1 2
                  comm:[prog]
                  pid:[42]
  Locations
       1: 0x402000 M=1 hot f.c:20 s=19
               main f.c:11 s=9
  Mappings
  1: 0x400000/0x500000/0x0 f.c buildid [FN][FL][LN][IN]
parse_raw() turns that into plain Python objects. pprof is always run with
-symbolize=none, so what is shown is what our file holds (pprof would otherwise try to
symbolize mappings itself).

Environment: PPROF (default /opt/pprofstore-deps/bin/pprof, else `pprof` on PATH).
"""

import os
import re
import shutil

import ppstest as T

NUMERIC_LABELS = ("pid", "tid", "cpu")


def pprof_bin():
    p = os.environ.get("PPROF")
    if p:
        return p
    if os.access("/opt/pprofstore-deps/bin/pprof", os.X_OK):
        return "/opt/pprofstore-deps/bin/pprof"
    return shutil.which("pprof")


class Loc:
    def __init__(self, lid, addr, mapping):
        self.id, self.addr, self.mapping = lid, addr, mapping
        self.lines = []  # [(function name, file name, line, start line)], innermost first


class Sample:
    def __init__(self, values, locs):
        self.values, self.locs = values, locs
        self.labels = {}  # key -> [str]
        self.num = {}     # key -> [int]


class Raw:
    def __init__(self):
        self.period_type = None  # (type, unit)
        self.period = None
        self.sample_types = []   # [(type, unit)]
        self.samples = []
        self.locations = {}      # id -> Loc
        self.mappings = {}       # id -> dict(start, limit, offset, file, build_id, bits)
        self.comments = []

    def type_index(self, name):
        for i, (t, _) in enumerate(self.sample_types):
            if t == name:
                return i
        return None

    def total(self, index=0):
        return sum(s.values[index] for s in self.samples)

    def frames(self, s):
        """One sample's stack as [(function, file, line)], leaf first, inlined frames
        expanded (a location's Lines are innermost first)."""
        out = []
        for lid in s.locs:
            loc = self.locations.get(lid)
            if loc is None:
                out.append((f"<missing location {lid}>", "", 0))
                continue
            if not loc.lines:
                out.append((f"0x{loc.addr:x}", "", 0))
            for fn, fl, ln, _ in loc.lines:
                out.append((fn, fl, ln))
        return out

    def flat_by_function(self, index):
        """function name -> flat value (leaf frame = first Line of the first location)."""
        flat = {}
        for s in self.samples:
            fr = self.frames(s)
            name = fr[0][0] if fr else "<no stack>"
            flat[name] = flat.get(name, 0) + s.values[index]
        return flat


_SAMPLE = re.compile(r"^\s*((?:-?\d+\s+)*-?\d+): ((?:\d+ ?)*)\s*$")
_LOC = re.compile(r"^\s*(\d+): (0x[0-9a-f]+) (?:M=(\d+) )?(?:\[F\] )?(.*)$")
_LINE = re.compile(r"^(.*) (\S*):(-?\d+)(?::\d+)? s=(-?\d+)(?:\((.*)\))?$")
_LABEL = re.compile(r"(\S+?):\[([^\]]*)\]")
_MAP = re.compile(r"^(\d+): (0x[0-9a-f]+|0)/(0x[0-9a-f]+|0)/(0x[0-9a-f]+|0) (.*)$")


def _line(text):
    if text.strip() == "??" or not text.strip():
        return None
    m = _LINE.match(text.strip())
    if not m:
        raise ValueError(f"unparsed pprof -raw line entry: {text!r}")
    return (m.group(1), m.group(2), int(m.group(3)), int(m.group(4)))


def parse_raw(text):
    r = Raw()
    state = "head"
    cur_sample = None
    cur_loc = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if state == "head":
            if line.startswith("Comment: "):
                r.comments.append(line[9:])
            elif line.startswith("PeriodType: "):
                parts = line[12:].split()
                r.period_type = tuple(parts[:2]) if len(parts) >= 2 else (parts + [""])[:2]
            elif line.startswith("Period: "):
                r.period = int(line[8:])
            elif line.startswith(("Time: ", "Duration: ", "DropFrames", "KeepFrames")):
                pass
            elif line == "Samples:":
                hdr = lines[i] if i < len(lines) else ""
                i += 1
                for tok in hdr.split():
                    tok = tok.replace("[dflt]", "")
                    t, _, u = tok.rpartition("/")
                    r.sample_types.append((t, u))
                state = "samples"
            continue
        if state == "samples":
            if line == "Locations":
                state = "locs"
                continue
            m = _SAMPLE.match(line)
            if m:
                vals = [int(v) for v in m.group(1).split()]
                locs = [int(v) for v in m.group(2).split()]
                cur_sample = Sample(vals, locs)
                r.samples.append(cur_sample)
                continue
            if cur_sample is not None and line.startswith(" " * 16):
                for k, v in _LABEL.findall(line):
                    if k in NUMERIC_LABELS and re.fullmatch(r"(-?\d+( \S+)? ?)*", v):
                        cur_sample.num[k] = [int(x) for x in re.findall(r"-?\d+", v)]
                    else:
                        cur_sample.labels[k] = [v]
                continue
            if not line.strip():
                continue
            raise ValueError(f"unparsed pprof -raw sample line: {line!r}")
        if state == "locs":
            if line == "Mappings":
                state = "maps"
                continue
            m = _LOC.match(line)
            if m:
                cur_loc = Loc(int(m.group(1)), int(m.group(2), 16), int(m.group(3) or 0))
                r.locations[cur_loc.id] = cur_loc
                ln = _line(m.group(4))
                if ln:
                    cur_loc.lines.append(ln)
                continue
            if cur_loc is not None and line.startswith(" "):
                ln = _line(line)
                if ln:
                    cur_loc.lines.append(ln)
                continue
            if not line.strip():
                continue
            raise ValueError(f"unparsed pprof -raw location line: {line!r}")
        if state == "maps":
            m = _MAP.match(line)
            if m:
                rest = m.group(5).split(" ")
                r.mappings[int(m.group(1))] = {
                    "start": int(m.group(2), 16), "limit": int(m.group(3), 16),
                    "offset": int(m.group(4), 16), "file": rest[0] if rest else "",
                    "build_id": rest[1] if len(rest) > 1 else "",
                    "bits": rest[2] if len(rest) > 2 else ""}
                continue
            if not line.strip():
                continue
            raise ValueError(f"unparsed pprof -raw mapping line: {line!r}")
    if state == "head":
        raise ValueError("no 'Samples:' section in pprof -raw output")
    return r


def pprof(args, path, timeout=300):
    """Run pprof ARGS -symbolize=none PATH; returns the Run."""
    return T.run([pprof_bin()] + args + ["-symbolize=none", path], timeout)


def load_raw(path, timeout=300):
    """(Raw or None, error string). The error names pprof's complaint."""
    r = pprof(["-raw"], path, timeout)
    if r.timed_out:
        return None, "pprof -raw timed out"
    if r.rc != 0:
        return None, f"pprof -raw exit {r.rc}: {r.err_head(300)}"
    try:
        return parse_raw(r.out_text), ""
    except ValueError as e:
        return None, str(e)


_TOP = re.compile(r"^\s*(\S+)\s+(-?[\d.]+)%\s+(-?[\d.]+)%\s+(\S+)\s+(-?[\d.]+)%\s+(.*?)\s*$")


def top(path, sample_index=None, extra=(), timeout=300):
    """pprof -top with every node: ({name: (flat%, cum%)}, total line, Run)."""
    args = ["-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0"]
    if sample_index is not None:
        args.append(f"-sample_index={sample_index}")
    args += list(extra)
    r = pprof(args, path, timeout)
    rows = {}
    total = None
    for line in r.out_text.splitlines():
        if line.startswith("Showing nodes accounting for"):
            total = line
            continue
        m = _TOP.match(line)
        if m and m.group(1) != "flat":
            name = m.group(6)
            if name.endswith(" (inline)"):
                name = name[: -len(" (inline)")]
            f, c = float(m.group(2)), float(m.group(5))
            if name in rows:  # same name from two files: add up
                f += rows[name][0]
                c = max(c, rows[name][1])
            rows[name] = (f, c)
    return rows, total, r
