"""Benchmark: parse and diff two full-size revisions of the Goods Ordinance.

Builds two revisions by repeating the real 2023 slice (tests/fixtures/egov) as articles
1…N until there are 5,000+ provisions (~the size of the real ordinance, ~1 M characters),
then changes 50 provisions in the second one. Prints parse and diff times, peak RSS and,
for comparison, the time of `git diff --no-index` on the same two files. No assertions.

    .venv/bin/python bench/lawdiff_bench.py [--articles N] [--shifted N]
"""

from __future__ import annotations

import argparse
import copy
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from lxml import etree

from regwatch.normalise.egov_law import parse_law_xml
from regwatch.normalise.law_diff import diff_laws
from regwatch.normalise.text_ja import IROHA, int_to_kanji

SLICE = Path(__file__).parents[1] / "tests" / "fixtures" / "egov" / "403M50000400049_20230723_after.xml"
CHANGED = 50


def build(articles: int, shifted: int = 0) -> tuple[bytes, bytes]:
    root = etree.fromstring(SLICE.read_bytes())
    main = root.find("LawBody/MainProvision")
    template = main.find("Article")
    main.remove(template)
    for k in range(1, articles + 1):
        art = copy.deepcopy(template)
        art.set("Num", str(k))
        art.find("ArticleTitle").text = f"第{int_to_kanji(k)}条"
        main.append(art)
    old = etree.tostring(root, encoding="utf-8", xml_declaration=True)
    sentences = [s for s in root.iter("Sentence") if s.text and len(s.text) > 10]
    step = max(1, len(sentences) // CHANGED)
    for s in sentences[::step][:CHANGED]:
        s.text = s.text[:5] + "（改正）" + s.text[5:]
    # optionally: a new イ at the head of item 17 in `shifted` articles renumbers ~30 siblings each
    for art in list(main)[:shifted]:
        item = next(i for i in art.iter("Item") if i.findtext("ItemTitle") == "十七")
        subs = item.findall("Subitem1")
        new = copy.deepcopy(subs[2])
        new.find("Subitem1Sentence/Sentence").text = "新たに追加する装置"
        item.insert(list(item).index(subs[0]), new)
        for k, sub in enumerate(item.findall("Subitem1")):
            sub.find("Subitem1Title").text = IROHA[k]
    return old, etree.tostring(root, encoding="utf-8", xml_declaration=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=45)
    ap.add_argument("--shifted", type=int, default=0,
                    help="also insert a sub-item at the head of item 17 in this many articles")
    args = ap.parse_args()
    old_xml, new_xml = build(args.articles, args.shifted)

    t0 = time.perf_counter()
    old = parse_law_xml(old_xml, source="old.xml")
    new = parse_law_xml(new_xml, source="new.xml")
    t1 = time.perf_counter()
    changes = diff_laws(old, new)
    t2 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    chars = len(new_xml.decode("utf-8"))
    print(f"input: {len(old.provisions)} / {len(new.provisions)} provisions, "
          f"{len(new_xml) / 1e6:.2f} MB ({chars / 1e6:.2f} M characters) per revision")
    print(f"parse (both): {t1 - t0:.3f} s   diff: {t2 - t1:.3f} s   total: {t2 - t0:.3f} s "
          f"(target < 1 s)")
    counts = Counter(c.change_type for c in changes)
    print(f"changes found: {len(changes)} {dict(sorted(counts.items()))} "
          f"(expected {CHANGED} amended{' + shifted sub-items' if args.shifted else ''})")
    print(f"peak RSS: {rss_mb:.0f} MB (target < 200 MB)")

    git = shutil.which("git")
    if git:
        with tempfile.TemporaryDirectory() as tmp:
            a, b = Path(tmp, "old.xml"), Path(tmp, "new.xml")
            a.write_bytes(old_xml)
            b.write_bytes(new_xml)
            t3 = time.perf_counter()
            proc = subprocess.run([git, "diff", "--no-index", "--stat", str(a), str(b)],  # noqa: S603
                                  capture_output=True, check=False)
            t4 = time.perf_counter()
            print(f"git diff --no-index: {t4 - t3:.3f} s "
                  f"({proc.stdout.decode(errors='replace').strip().splitlines()[-1:]})")
    else:
        print("git diff --no-index: git not found")


if __name__ == "__main__":
    main()
