#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Every recording of the corpus (../shared/corpus/perf-data, PPS_CORPUS) through the store.

All of them go into one database (so strings, functions, stacks and label sets are shared
across sources), each tagged corpus=NAME. The oracle is perf2pprof --all on the same file.

Checks, per file:
  - perf2pprof refuses it (exit 1): ingest refuses it too (exit 1), with a message naming
    the file, and stores nothing;
  - else ingest exits 0 (saying "damaged" when perf2pprof exits 3), and every profile
    perf2pprof writes is in the store: query --type T --tag corpus=NAME over the whole
    range = perf2pprof's T.pprof through pprof -raw (sample and period types, every
    value's total and flat per function, every sample: frames, labels, values), and no
    other type is stored for the source;
  - at the end: integrity_check ok.
Exit 77 (skip) never: the corpus is files. PPS_KEEP=1 keeps the temporary directory.
"""

import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppstest as T  # noqa: E402
import storetest as S  # noqa: E402


def check_file(c, tmp, db, path):
    name = os.path.basename(path)
    outdir = os.path.join(tmp, name)
    r = T.run([T.perf2pprof(), "-q", "--all", path, "-o", outdir], 600)
    ref_rc = r.rc
    r, p = S.store(db, ["ingest", path, "--tag", f"corpus={name}"], timeout=600)
    nsrc = S.db_value(db, "SELECT count(*) FROM tags WHERE key = 'corpus' AND value = ?",
                      (name,))
    if ref_rc == 1:
        if r.rc != 1 or name not in r.err_text:
            p.append(f"perf2pprof refuses it, ingest exits {r.rc}: {r.err_head()!r}")
        if nsrc:
            p.append("stored although refused")
        c.result(name, p, "refused by both: " + r.err_head(100))
        return
    if ref_rc not in (0, 3):
        c.result(name, [f"perf2pprof exit {ref_rc}"])
        return
    p = S.ok(r, p, "ingest")
    if ref_rc == 3 and "damaged" not in r.err_text:
        p.append(f"perf2pprof says damaged (exit 3), ingest does not: {r.err_head()!r}")
    types = sorted(f[:-len(".pprof")] for f in os.listdir(outdir)) \
        if os.path.isdir(outdir) else []
    stored = sorted(t for (t,) in S.db_rows(
        db, "SELECT t.name FROM source_types st JOIN types t ON t.id = st.type_id JOIN tags "
            "g ON g.source_id = st.source_id WHERE g.key = 'corpus' AND g.value = ?", (name,)))
    if not p and stored != types:
        p.append(f"stored types {stored}, perf2pprof wrote {types}")
    for t in types if not p else []:
        ref, q = S.load(os.path.join(outdir, t + ".pprof"))
        if not q:
            got, _, q = S.query(db, tmp, "q", ["-t", t, "--tag", f"corpus={name}"])
        if not q:
            q = S.compare(ref, got)
        p += [f"{t}: {x}" for x in q]
    c.result(name, p, ", ".join(types) if types else "no profiles")


def main():
    c = S.Checker()
    keep = os.environ.get("PPS_KEEP") == "1"
    files = T.corpus_files("perf-data")
    tmp = tempfile.mkdtemp(prefix="pps_store_corpus_")
    try:
        db = os.path.join(tmp, "corpus.db")
        for path in files:
            check_file(c, tmp, db, path)
        ic = S.db_value(db, "PRAGMA integrity_check")
        c.result("integrity", [] if ic == "ok" else [f"integrity_check: {ic!r}"])
    finally:
        if keep or c.nfail:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"store_corpus: {c.npass} passed, {c.nfail} failed", flush=True)
    return 1 if c.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
