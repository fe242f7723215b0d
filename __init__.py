"""FaceSpace node pack for ComfyUI: blend and morph faces with StyleGAN."""
import os
import sys

# The library lives beside the nodes; make `import facespace` work however ComfyUI names this folder.
_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.append(_here)

if __package__:  # ComfyUI imports this folder as a package
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:  # imported as a plain module, e.g. by a test runner collecting a folder whose name is no identifier
    from nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web/js"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
