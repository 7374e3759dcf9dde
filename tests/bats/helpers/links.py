"""Check the links of README.md and docs/*.md: every relative link names an existing file, and
every #anchor a heading of its page (GitHub's slugs).  Prints one line per broken link,
`file:line: target: why`, and a last line `N links, N broken`; exits 1 if any is broken.

  links.py [ROOT] [FILE...]          (default: ROOT/README.md and ROOT/docs/*.md)
  links.py --make-targets ROOT       the make targets those files name in code (`make X`, code
                                     blocks), one `file: target` a line
"""
import glob
import os
import re
import sys

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip())
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> set:
    found, seen, fenced = set(), {}, False
    for line in open(path, encoding="utf-8"):
        if FENCE.match(line):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        s = slug(line.lstrip("#"))
        n = seen.get(s, 0)
        seen[s] = n + 1
        found.add(s if n == 0 else "%s-%d" % (s, n))
    return found


def doc_files(root: str) -> list:
    return [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))


def make_targets(root: str) -> int:
    for path in doc_files(root):
        text = open(path, encoding="utf-8").read()
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
        spans = re.findall(r"`([^`]+)`", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
        spans = [re.sub(r"\s*\n\s*", " ", span) for span in spans]  # a span wrapped over lines
        found = set()
        for code in blocks + spans:
            for m in re.finditer(r"(?:^|[ \t;&(])make((?:[ \t]+[A-Z_]+=\S*)*)(?:[ \t]+([a-z][a-z0-9_-]*))?",
                                 code, re.M):
                found.add(m.group(2) or "all")
        for target in sorted(found):
            print("%s: %s" % (os.path.relpath(path, root), target))
    return 0


def main(argv: list) -> int:
    if argv[:1] == ["--make-targets"]:
        return make_targets(argv[1] if len(argv) > 1 else ".")
    root = argv[0] if argv else "."
    files = argv[1:] or doc_files(root)
    total = broken = 0
    for path in files:
        fenced = False
        for no, line in enumerate(open(path, encoding="utf-8"), 1):
            if FENCE.match(line):
                fenced = not fenced
            if fenced:
                continue
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                    continue
                total += 1
                file_part, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
                    if file_part else path
                why = None
                if not os.path.exists(dest):
                    why = "no such file"
                elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                    why = "no heading #%s in %s" % (anchor, os.path.relpath(dest, root))
                if why:
                    broken += 1
                    print("%s:%d: %s: %s" % (os.path.relpath(path, root), no, target, why))
    print("%d links, %d broken" % (total, broken))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
