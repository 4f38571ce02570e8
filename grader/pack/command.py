"""``grade pack -o DIR``: write the course rubric's public pack (see grader.pack)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import GraderError


def main(argv: Sequence[str]) -> int:
    from ..rubric import load_rubric, rubric_path
    from .store import PACK_DIR, write_pack

    p = argparse.ArgumentParser(
        prog="grade pack",
        description="Write the public pack: the rubric's public checks with the reference's "
        "results on the public inputs as data, for students' repositories "
        "(grade --check --pack DIR notebook.ipynb).",
    )
    p.add_argument("-o", "--output", default=PACK_DIR, help=f"folder (default ./{PACK_DIR})")
    p.add_argument("--rubric", help="rubric YAML (default: the one in ./rubrics)")
    p.add_argument("--quiet", "-q", action="store_true", help="do not list what stayed out")
    args = p.parse_args(argv)
    try:
        rubric = load_rubric(rubric_path(args.rubric))
        frozen = write_pack(rubric, args.output)
    except GraderError as exc:
        print(f"grade pack: error: {exc}", file=sys.stderr)
        return 2
    checks = [c for e in frozen.doc["exercises"] for c in e["checks"]]
    total = sum(len(e.checks) for e in rubric.exercises)
    cases = sum(len(v["list"]) for v in frozen.doc["cases"].values())
    published = ", ".join(frozen.published) or "none"
    print(
        f"grade pack: wrote {args.output}: {len(checks)} of {total} checks, {cases} public "
        f"inputs, predicates published: {published}; the leak scan found nothing"
    )
    if not os.environ.get("GRADER_SEED"):
        print(
            "grade pack: GRADER_SEED is not set: the leak scan checked the hidden inputs of the "
            "default seed; set the course secret to check the ones your final grade uses",
            file=sys.stderr,
        )
    if not args.quiet:
        for note in frozen.notes:  # names hidden checks: for the instructor's eyes only
            print(f"  {note}", file=sys.stderr)
    return 0
