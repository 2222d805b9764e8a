#!/usr/bin/env python3
"""Compares the (rule, event) match sets of canhgac-detect and rsigma (scripts/bench-sigma.sh).

usage: bench-sigma-compare.py OURS.tsv RSIGMA.ndjson FLAT.jsonl RULE_DIR... [--thor=thor.yml]

OURS.tsv: `line<TAB>rule-id` (MATCHES= of detect/examples/measure.rs).
RSIGMA.ndjson: `rsigma engine eval --include-event` output over FLAT.jsonl (events in order; each
match carries its event, which is located in FLAT.jsonl by walking forward).
Prints the counts, then the differences grouped by the rule's logsource and the event's
Channel/EventID, with examples.
"""
import collections
import json
import os
import sys

import yaml


def rule_index(dirs):
    idx = {}
    for d in dirs:
        for root, _, files in os.walk(d, followlinks=True):
            for f in files:
                if not f.endswith((".yml", ".yaml")):
                    continue
                p = os.path.join(root, f)
                try:
                    with open(p, encoding="utf-8") as fh:
                        for doc in yaml.safe_load_all(fh):
                            if isinstance(doc, dict) and "id" in doc:
                                idx[str(doc["id"])] = (doc, p)
                except Exception:  # noqa: BLE001 (a broken file is reported by the engines)
                    pass
    return idx


def logsource(doc):
    ls = doc.get("logsource") or {}
    return "/".join(f"{k}={ls[k]}" for k in ("product", "category", "service") if k in ls)


def thor_routing(path):
    """category -> EventIDs and service -> channels, from SigmaHQ's thor.yml."""
    cat_ids, svc_channels = collections.defaultdict(set), collections.defaultdict(set)
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    for e in (doc.get("logsources") or {}).values():
        ids = (e.get("conditions") or {}).get("EventID")
        if e.get("category") and ids is not None:
            cat_ids[e["category"]].update(str(i) for i in (ids if isinstance(ids, list) else [ids]))
        if e.get("service") and not e.get("category"):
            for src in e.get("sources") or []:
                svc_channels[e["service"]].add(str(src).split(":", 1)[-1])
    return cat_ids, svc_channels


def routing_class(doc, ev, cat_ids, svc_channels):
    """Whether the rule's logsource applies to the event, as SigmaHQ's thor.yml routes it."""
    ls = doc.get("logsource") or {}
    if "category" in ls:
        ids = cat_ids.get(ls["category"])
        if ids is None:
            return "rule category has no Windows event mapping"
        return "same logsource" if str(ev.get("EventID")) in ids else "other logsource (category)"
    if "service" in ls:
        chans = svc_channels.get(ls["service"])
        if chans is None:
            return "rule service has no channel mapping"
        return "same logsource" if ev.get("Channel") in chans else "other logsource (service)"
    return "product only"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n_examples = 2
    ours_path, rs_path, flat_path, *dirs = args
    flat = [json.loads(l) for l in open(flat_path, encoding="utf-8") if l.strip()]
    ours = set()
    for l in open(ours_path, encoding="utf-8"):
        i, r = l.rstrip("\n").split("\t")
        ours.add((int(i), r))
    theirs = set()
    pos = 0
    for l in open(rs_path, encoding="utf-8"):
        if not l.strip():
            continue
        m = json.loads(l)
        ev = m.get("event")
        while pos < len(flat) and flat[pos] != ev:
            pos += 1
        if pos == len(flat):
            sys.exit(f"rsigma match for an event not found in order: {m['rule_id']}")
        theirs.add((pos, m["rule_id"]))
    rules = rule_index(dirs)
    thor = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--thor=")]
    cat_ids, svc_channels = thor_routing(thor[0]) if thor else ({}, {})
    both = ours & theirs
    only_ours = sorted(ours - theirs)
    only_rs = sorted(theirs - ours)
    print(f"pairs: ours {len(ours)}  rsigma {len(theirs)}  both {len(both)}  "
          f"only-ours {len(only_ours)}  only-rsigma {len(only_rs)}")
    print(f"rules firing: ours {len({r for _, r in ours})}  rsigma {len({r for _, r in theirs})}")
    for name, diff in (("only-rsigma", only_rs), ("only-ours", only_ours)):
        groups = collections.defaultdict(list)
        classes = collections.Counter()
        for i, r in diff:
            doc, _ = rules.get(r, ({}, "?"))
            ev = flat[i]
            classes[routing_class(doc, ev, cat_ids, svc_channels)] += 1
            key = (logsource(doc), f"{ev.get('Channel')} {ev.get('EventID')}")
            groups[key].append((i, r, doc.get("title", "?")))
        print(f"\n== {name}: {len(diff)} pairs in {len(groups)} (rule logsource, event channel+id) classes")
        for c, k in classes.most_common():
            print(f"   {k:5}  {c}")
        for (ls, ch), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            print(f"{len(items):5}  rule [{ls}]  event [{ch}]")
            for i, r, t in items[:n_examples]:
                print(f"         line {i}  {r}  {t}")


if __name__ == "__main__":
    main()
