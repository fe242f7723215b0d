"""Calling node classes as ComfyUI does, without ComfyUI."""


def defaults(node_cls, **overrides):
    """Every input's default value (a combo's first choice), with `overrides` on top."""
    spec = node_cls.INPUT_TYPES()
    values = {}
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            options = entry[1] if len(entry) > 1 else {}
            if "default" in options:
                values[name] = options["default"]
            elif isinstance(entry[0], list):
                values[name] = entry[0][0]
    values.update(overrides)
    return values
