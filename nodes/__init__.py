"""ComfyUI adapters: one thin module per node over the `facespace` library."""
import importlib

# Along the user's path: load -> align -> train -> blend -> morph; latents; then the browser's face-names route.
NODE_MODULES = ("load_stylegan", "sample", "align_faces", "train_encoder", "facespace_files", "blend", "morph",
                "latent_random",
                "latent_project",
                "latent_mix",
                "latent_edit",
                "latent_join",
                "latent_render",
                "latent_files",
                "routes")

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
for _name in NODE_MODULES:
    _module = importlib.import_module(f"{__name__}.{_name}")
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)
