"""`python -m facespace align`: FFHQ-aligned face crops from photos, plus the landmarks used."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from ..align import BACKENDS, DEFAULT_SCORE_THRESHOLD, FACE_CHOICES, align_faces
from ..errors import FaceSpaceError
from ..fileio import atomic_path, save_picture
from ..runtime import PlainRuntime

LANDMARKS_FILE = "landmarks.json"
CROPS_FILE = "crops.json"   # how each face was cut, for `python -m facespace paste`


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "align", help="align faces in photos the way FFHQ was aligned",
        description="Write <name>.png per face (<name>_01.png, <name>_02.png ... for several faces in one photo) "
                    "and landmarks.json (per output file: source photo, the 68 landmarks, the crop square), plus crops.json "
                    "(the same cuts as `facespace paste` reads them, to put generated faces back into the photos).")
    p.add_argument("inputs", nargs="+", metavar="IN_DIR_OR_FILES", help="photo files and/or folders of photos")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, default=1024,
                   help="output size in pixels (default 1024; use the generator's resolution)")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="landmark detector (default auto: face_alignment when its weights are present, else dlib); "
                        "--landmarks implies 'given'")
    p.add_argument("--landmarks", metavar="FILE.json",
                   help="your own landmarks: {photo file name: 68 [x, y] points (or a list of faces)}")
    p.add_argument("--faces", default="largest", choices=FACE_CHOICES,
                   help="which faces per photo: the largest (default), all, or the --face-index-th from the left")
    p.add_argument("--face-index", type=int, default=0, help="with --faces index: which face, from 0, left to right")
    p.add_argument("--score-threshold", type=float, default=DEFAULT_SCORE_THRESHOLD,
                   help=f"ignore detections scoring lower (default {DEFAULT_SCORE_THRESHOLD})")
    p.add_argument("--names", help="one face name per photo, comma or semicolon separated (default: file names)")
    p.add_argument("--skip-missing", action="store_true", help="skip photos without a face instead of stopping")
    p.add_argument("--allow-download", action="store_true", help="let face_alignment download missing weights")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(run=run)


def run(args) -> int:
    backend = "given" if args.landmarks and args.backend == "auto" else args.backend
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FaceSpaceError(f"--out {out} is a file; expected a folder")
    rt = PlainRuntime(args.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = align_faces(files=args.inputs, names=args.names, size=args.size, backend=backend,
                             faces=args.faces, face_index=args.face_index, score_threshold=args.score_threshold,
                             skip_missing=args.skip_missing, landmarks=args.landmarks,
                             allow_download=args.allow_download, preview=False, runtime=rt)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)

    targets = [out / f"{face.name}.png" for face in result.faces]
    sources = {Path(face.source).resolve() for face in result.faces}
    clobbered = [str(p) for p in targets if p.resolve() in sources]
    if clobbered:
        raise FaceSpaceError(f"--out {out} would replace the input photo(s) {', '.join(clobbered)}; "
                             f"choose another --out")
    existing = [str(p) for p in targets + [out / LANDMARKS_FILE, out / CROPS_FILE] if p.exists()]
    if existing and not args.overwrite:
        raise FaceSpaceError(f"output file(s) already exist: {', '.join(existing)}; "
                             f"pass --overwrite or choose another --out")
    for face, path in zip(result.faces, targets):
        save_picture(face.image, path, args.overwrite)
    lines = [f" {json.dumps(path.name)}: {json.dumps(face.record())}" for face, path in zip(result.faces, targets)]
    with atomic_path(out / LANDMARKS_FILE, args.overwrite) as tmp:
        tmp.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    with atomic_path(out / CROPS_FILE, args.overwrite) as tmp:
        tmp.write_text(result.crops.to_json(), encoding="utf-8")
    print(f"aligned {len(result.faces)} face(s) at {args.size}x{args.size} into {out}"
          + (f"; skipped {len(result.skipped)} photo(s) without a face" if result.skipped else ""))
    return 0
