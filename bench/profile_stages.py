#!/usr/bin/env python3
"""Instructions per read, per stage, from the callgrind dumps of scripts/profile_e2e.sh.

Usage: profile_stages.py READS RAW_DUMP PROCESSOR_DUMP [--markdown]

Each dump holds the instructions of one timed span of `anpr bench` (bench/e2e/e2e_bench.cpp,
profile_start/profile_dump): the raw consumer's, then the processor's, every thread of the
process together. A cost is given to the stage of the code that spends it: a function's own
instructions to the stage its name (or the header its code was inlined from) belongs to, and
what a function of no stage calls (malloc, memcpy, librdkafka's insides) to the stage of its
caller, less what the callee passes on to stage functions (callgrind keeps call edges, not
whole stacks, so a callee called from several stages is shared by the cost of each edge).
docs/benchmarks.md, "Where the CPU goes", explains the stages.
"""
import re
import sys
from collections import defaultdict

# (stage, test) in order: the first stage whose test matches a context wins. A context is a
# function, the file its current code comes from (inlined headers keep theirs) and its object.
STAGES = [
    ("harness", lambda fn, fl, ob: "processor_consume(" in fn and "lambda" not in fn),
    ("offset tracking", lambda fn, fl, ob: fl.endswith("offset_tracker.h")
        or "OffsetTracker::" in fn or "Impl::store_ready" in fn),
    ("decode (JSON)", lambda fn, fl, ob: "ReadEventDecoder" in fn or "simdjson" in fn
        or "parse_rfc3339" in fn or "parse_date_prefix" in fn or "ReadEvent::clear" in fn),
    ("normalise", lambda fn, fl, ob: "normalized_plates" in fn or "anpr::normalize(" in fn),
    ("camera lookup", lambda fn, fl, ob: "CameraRegistry" in fn or "ReadMatcher::decode(" in fn),
    ("match", lambda fn, fl, ob: "Snapshot::match" in fn or "Snapshot::probe" in fn),
    ("encode hits, dead letters", lambda fn, fl, ob: "encode_hits" in fn or "hit_json" in fn
        or "append_hit_json" in fn or "ReadMatcher::deadletter" in fn or "deadletter_json" in fn
        or "HitImages" in fn or "format_rfc3339" in fn or "JsonWriter" in fn or "hit_id" in fn),
    ("stage 2 loop (batch, timers)", lambda fn, fl, ob: "ReadMatcher::match(" in fn
        or "Impl::process(" in fn or "count_future_stamped" in fn
        or "(anonymous namespace)::Batch*)#2}" in fn),
    ("consume stage", lambda fn, fl, ob: "Impl::consume(" in fn or "Impl::regulate" in fn
        or "flow_control&)#1}" in fn or "raw_consume(" in fn),
    ("produce (librdkafka producer calls)", lambda fn, fl, ob: "Producer::produce(" in fn),
    ("delivery reports", lambda fn, fl, ob: "on_delivery" in fn or "Producer::on_dr" in fn),
    ("publish stage (suppression, counters)", lambda fn, fl, ob: "Impl::publish(" in fn
        or "Impl::send(" in fn or "count_outputs" in fn or "Suppressor" in fn
        or "(anonymous namespace)::Batch*)#3}" in fn),
    ("producer poll thread", lambda fn, fl, ob: "Impl::poll_loop" in fn
        or "send_retries" in fn or "replace_producer_if_failed" in fn),
    ("broker prober", lambda fn, fl, ob: "probe_loop" in fn),
    ("TBB scheduling, idle spinning", lambda fn, fl, ob: "libtbb" in ob or "oneapi/tbb" in fl),
]

# Calls into librdkafka's API count for a stage of their own, whoever calls them.
CALLEE_STAGES = {
    "rd_kafka_consumer_poll": "consume (librdkafka consumer calls)",
    "rd_kafka_consume_batch_queue": "consume (librdkafka consumer calls)",
    "rd_kafka_message_destroy": "consume (librdkafka consumer calls)",
    "rd_kafka_producev": "produce (librdkafka producer calls)",
    "rd_kafka_poll": "delivery reports",
    "rd_kafka_offsets_store": "offset tracking",
}

ORDER = [
    "consume (librdkafka consumer calls)", "librdkafka threads (fetch, produce, timers)",
    "consume stage", "decode (JSON)", "camera lookup", "normalise", "match",
    "encode hits, dead letters", "stage 2 loop (batch, timers)",
    "publish stage (suppression, counters)", "produce (librdkafka producer calls)",
    "delivery reports", "offset tracking", "producer poll thread", "broker prober",
    "TBB scheduling, idle spinning", "harness", "other",
]


def parse(path):
    names = {"fn": {}, "fl": {}, "ob": {}}
    self_cost = defaultdict(int)   # (fn, file, ob) -> instructions
    edges = defaultdict(int)       # (fn, file, ob, callee fn) -> inclusive instructions
    fn_home = {}                   # fn -> (its own file, object)
    fn_ob = {}
    summary = 0
    ob = fl = fi = fn = ""
    cfn = cob = None
    pending_call = False

    def name(kind, rest):
        m = re.match(r"\((\d+)\)\s*(.*)", rest)
        if not m:
            return rest
        if m.group(2):
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), "?")

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending_call:
                    edges[(fn, fi, ob, cfn)] += cost
                    fn_ob.setdefault(cfn, cob or ob)
                    pending_call = False
                else:
                    self_cost[(fn, fi, ob)] += cost
                continue
            key, _, rest = line.partition("=")
            if key == "ob":
                ob = name("ob", rest)
            elif key == "fl":
                fl = fi = name("fl", rest)
            elif key in ("fi", "fe"):
                fi = name("fl", rest)
            elif key == "fn":
                fn = name("fn", rest)
                fi = fl
                fn_home.setdefault(fn, (fl, ob))
                fn_ob.setdefault(fn, ob)
                cob = None
            elif key == "cob":
                cob = name("ob", rest)
            elif key in ("cfi", "cfl"):
                name("fl", rest)
            elif key == "cfn":
                cfn = name("fn", rest)
            elif key == "calls":
                pending_call = True
            elif line.startswith("summary:"):
                summary = int(line.split()[1])
    return summary, self_cost, edges, fn_home, fn_ob


def stage_of(fn, fl, ob):
    for stage, test in STAGES:
        if test(fn, fl, ob):
            return stage
    return None


THREADS = "threads"  # clone, start_thread: what a thread runs goes by the library that runs it


def attribute(path):
    """Instructions per stage. Only the functions' own instructions are summed (a call still
    running when the span began carries costs from before it in its edge, so edges are used
    only as weights): a function of no stage passes its own instructions, and what it got from
    its callees, to its callers in proportion to the instructions of each call edge."""
    summary, self_cost, edges, fn_home, fn_ob = parse(path)

    def home_stage(g):
        if g.split("'")[0] in ("start_thread", "clone"):
            return THREADS
        fl, ob = fn_home.get(g, ("", fn_ob.get(g, "")))
        return stage_of(g, fl, ob)

    per_stage = defaultdict(float)
    unstaged_self = defaultdict(int)
    for (fn, fl, ob), c in self_cost.items():
        stage = None if home_stage(fn) == THREADS else stage_of(fn, fl, ob)
        if stage:
            per_stage[stage] += c
        else:
            unstaged_self[fn] += c
    incoming = defaultdict(int)
    callees = defaultdict(list)
    for (fn, fl, ob, g), c in edges.items():
        if g != fn:
            incoming[g] += c
            callees[fn].append((g, c))
    passed = {}

    def up(g, depth=0):
        """What a function of no stage passes up: its own instructions and its callees' share."""
        if g in passed:
            return passed[g]
        passed[g] = 0  # a cycle counts once
        total = unstaged_self[g]
        if depth < 400:
            for h, c in callees.get(g, []):
                if home_stage(h) is None and incoming[h] > 0:
                    total += up(h, depth + 1) * c / incoming[h]
        passed[g] = total
        return total

    sys.setrecursionlimit(10000)
    for (fn, fl, ob, g), c in edges.items():
        if g == fn or home_stage(g) is not None or incoming[g] == 0:
            continue
        caller = home_stage(fn) if home_stage(fn) == THREADS else stage_of(fn, fl, ob)
        if g in CALLEE_STAGES and caller not in (None, THREADS):
            caller = CALLEE_STAGES[g]
        if caller is None:
            continue  # a function of no stage: passed up by up()
        if caller == THREADS:
            gob = fn_ob.get(g, "")
            caller = ("librdkafka threads (fetch, produce, timers)" if "librdkafka" in gob
                      else "TBB scheduling, idle spinning" if "libtbb" in gob else "other")
        per_stage[caller] += up(g) * c / incoming[g]
    # Functions nobody called within the span (the main thread's root): their own share.
    called = set(incoming)
    for g in list(unstaged_self):
        if g not in called and home_stage(g) is None:
            per_stage["other"] += up(g)
    total = sum(self_cost.values())
    return total, per_stage


def span_reads(path, default):
    """The reads done within a dump's span, from its trigger ("processor reads=19873"); older
    dumps without it count every read of the run."""
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"desc: Trigger: Client Request: .* reads=(\d+)", line)
            if m:
                return max(int(m.group(1)), 1)
            if line.startswith(("fn=", "summary:")):
                break
    return default


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    if len(args) != 3:
        sys.exit(__doc__)
    reads = int(args[0])
    raw_reads, proc_reads = span_reads(args[1], reads), span_reads(args[2], reads)
    raw_total, raw = attribute(args[1])
    proc_total, proc = attribute(args[2])
    # Per read of each span: the benchmark names its dumps with the reads done within them.
    raw_total, proc_total = raw_total * reads / raw_reads, proc_total * reads / proc_reads
    raw = {k: v * reads / raw_reads for k, v in raw.items()}
    proc = {k: v * reads / proc_reads for k, v in proc.items()}
    if proc_reads < reads * 0.9:
        print(f"note: the processor's span held {proc_reads} of the {reads} reads (the "
              "benchmark noticed the first read late); figures are per read of the span",
              file=sys.stderr)
    rows = []
    for s in ORDER:
        r, p = raw.get(s, 0) / reads, proc.get(s, 0) / reads
        if round(r) or round(p):
            rows.append((s, r, p))
    if markdown:
        print("| stage | raw consumer | processor | processor − raw |")
        print("|---|---:|---:|---:|")
        for s, r, p in rows:
            print(f"| {s} | {r:,.0f} | {p:,.0f} | {p - r:+,.0f} |")
        print(f"| **all, instructions per read** | **{raw_total / reads:,.0f}** | "
              f"**{proc_total / reads:,.0f}** | **{(proc_total - raw_total) / reads:+,.0f}** |")
        return
    print(f"{'instructions per read':44s} | {'raw consumer':>12s} | {'processor':>10s} | {'diff':>8s}")
    for s, r, p in rows:
        print(f"{s:44s} | {r:12,.0f} | {p:10,.0f} | {p - r:+8,.0f}")
    print(f"{'all':44s} | {raw_total / reads:12,.0f} | {proc_total / reads:10,.0f} | "
          f"{(proc_total - raw_total) / reads:+8,.0f}")
    print(f"{'ratio processor / raw':44s} | {'':12s} | {proc_total / raw_total:10.2f} |")


if __name__ == "__main__":
    main()
