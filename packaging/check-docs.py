"""Run by packaging/test-deb.sh inside the container, with the system's python3: every relative
link of the installed Markdown files, and every `docs/...` or `models-data/licenses/...` file
the README names, resolves under /usr/share/doc/findface-extraction-api, anchors included."""

import glob
import os
import re
import sys

DOC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/doc/findface-extraction-api"
MIN_REFS = 20  # the README alone has more: fewer means the files were not found or not parsed


def anchors(path: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    with open(path, encoding="utf-8") as f:
        heads = re.findall(r"^#+\s+(.*)$", f.read(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def main() -> int:
    pages = sorted(glob.glob(f"{DOC}/*.md") + glob.glob(f"{DOC}/docs/**/*.md", recursive=True))
    for need in ("README.md", "docs/install.md"):
        if f"{DOC}/{need}" not in pages:
            print(f"    missing: {DOC}/{need}")
            return 1
    broken, count = [], 0
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        refs = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]
        if page.endswith("/README.md"):
            refs += re.findall(r"`((?:docs|models-data/licenses)/[^`\s]+\.md)`", text)
        for ref in refs:
            count += 1
            target, _, anchor = ref.partition("#")
            path = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
            where = os.path.relpath(page, DOC)
            if not os.path.isfile(path):
                broken.append(f"{where}: {ref} (no file {path})")
            elif anchor and path.endswith(".md") and anchor not in anchors(path):
                broken.append(f"{where}: {ref} (no heading #{anchor} in {path})")
    print(f"    {len(pages)} Markdown files, {count} relative links and file references, {len(broken)} broken")
    for b in broken:
        print(f"    broken: {b}")
    return 1 if broken or count < MIN_REFS else 0


if __name__ == "__main__":
    sys.exit(main())
