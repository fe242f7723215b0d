"""`python -m facespace paste`: generated faces back into the photo they were aligned from."""
from __future__ import annotations

from pathlib import Path

from ..align.crops import FaceCrops
from ..align.photos import expand_inputs, load_photo
from ..errors import FaceSpaceError
from ..fileio import PICTURE_SUFFIXES, save_numbered_pictures, save_picture
from ..imageops import image_to_pil, pil_to_image
from ..paste import COLOUR_MATCH, DEFAULT_FEATHER, DEFAULT_GROW, paste_back
from ..runtime import PlainRuntime



def register(subparsers) -> None:
    p = subparsers.add_parser(
        "paste", help="paste generated faces back into an aligned photo",
        description="Warp each face through the inverse of the photo's alignment and blend it in with a feathered "
                    "mask from the photo's landmarks. One face place and N faces give N photos "
                    "(<photo>_pasted_00000.png ...); a photo with several faces takes one face per place.")
    p.add_argument("photo", metavar="PHOTO", help="the photo the faces were aligned from")
    p.add_argument("crops", metavar="CROPS.json", help="crops.json written by `python -m facespace align`")
    p.add_argument("faces", nargs="+", metavar="FACES", help="aligned face images and/or folders of them")
    p.add_argument("--out", required=True, metavar="DIR|FILE",
                   help="output folder, or one picture file (.png/.jpg/.webp) when there is one result")
    p.add_argument("--face-index", type=int, default=-1,
                   help="which face of the photo to replace, from 0 left to right (default -1: each of them)")
    p.add_argument("--grow", type=float, default=DEFAULT_GROW,
                   help=f"grow (negative: shrink) the mask, fraction of the crop's side (default {DEFAULT_GROW})")
    p.add_argument("--feather", type=float, default=DEFAULT_FEATHER,
                   help=f"soft edge width, fraction of the crop's side (default {DEFAULT_FEATHER}; 0 = hard)")
    p.add_argument("--colour", choices=COLOUR_MATCH, default="lab",
                   help="lab: match the face's Lab mean and spread to the photo's face (default); none: keep colours")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(run=run)


def photo_index_for(crops: FaceCrops, photo: Path) -> int:
    """The crops' photo with this file name; the only photo when the crops come from one."""
    matches = sorted({c.photo_index for c in crops if Path(c.source).name == photo.name})
    indices = sorted({c.photo_index for c in crops})
    if len(matches) == 1:
        return matches[0]
    if not matches and len(indices) == 1:
        return indices[0]
    sources = sorted({Path(c.source).name for c in crops})
    raise FaceSpaceError(f"PHOTO {photo.name}: the crops file {'names it more than once' if matches else 'holds no faces of it'}"
                         f"; its photos are {', '.join(sources)}")


def run(args) -> int:
    photo_path = Path(args.photo)
    out = Path(args.out)
    crops = FaceCrops.from_json(args.crops)
    photo = load_photo(photo_path)
    faces = []
    for f in expand_inputs(args.faces):
        pic = load_photo(f)
        if pic.width != pic.height:
            raise FaceSpaceError(f"{f} is {pic.width}x{pic.height} px; aligned faces are square")
        faces.append(pic.resize(faces[0].size) if faces and pic.size != faces[0].size else pic)
    result = paste_back(crops, pil_to_image(faces), photo=photo, photo_index=photo_index_for(crops, photo_path),
                        face_index=args.face_index, grow=args.grow, feather=args.feather, colour=args.colour,
                        runtime=PlainRuntime(args.device))
    pictures = image_to_pil(result.images)
    if out.suffix.lower() in PICTURE_SUFFIXES:
        if len(pictures) != 1:
            raise FaceSpaceError(f"--out {out}: {len(pictures)} photos result; give a folder")
        save_picture(pictures[0], out, args.overwrite)
        written = [out]
    else:
        if out.exists() and not out.is_dir():
            raise FaceSpaceError(f"--out {out} is a file; expected a folder or a .png/.jpg/.webp file name")
        written = save_numbered_pictures(pictures, out, f"{photo_path.stem}_pasted", args.overwrite)
    print(f"pasted {len(faces)} face(s) into {photo_path.name}: wrote {len(written)} photo(s) "
          f"({written[0]}{' ...' if len(written) > 1 else ''})")
    return 0
