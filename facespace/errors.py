"""Errors a user can act on. Every message names the input at fault and what was expected."""


class FaceSpaceError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero; nodes show them as-is.

    The message is always one line (line breaks in it, e.g. from file data, become spaces)."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            args = (" ".join(args[0].split()),)
        super().__init__(*args)


class ModelFormatError(FaceSpaceError):
    """A file is not a generator (or FaceSpace) file we can read."""


class UnsafeFileError(ModelFormatError):
    """A pickle asked for something outside the allow-list; nothing from it was run."""


class NoFaceError(FaceSpaceError):
    """An image in which no face was found."""


class UnknownFaceError(FaceSpaceError):
    """A face name that the FaceSpace does not hold."""


class WeightsError(FaceSpaceError):
    """Blend weights that cannot be used (wrong count, negative, all zero, unparsable)."""


class MissingWeightsFileError(FaceSpaceError):
    """An optional model file (landmarks, VGG16) that is not on disk."""


class TrainingDivergedError(FaceSpaceError):
    """Training produced NaN or inf; nothing was saved."""


class TrainingFailedError(FaceSpaceError):
    """Training ended far below its target quality; nothing was saved."""


class NonFiniteError(FaceSpaceError):
    """Latents, weights or a rendered picture hold NaN or inf."""


class FingerprintMismatchError(FaceSpaceError):
    """A FaceSpace loaded with a generator other than the one it was trained for."""


class Cancelled(FaceSpaceError):
    """The user cancelled long work."""


class DeviceError(FaceSpaceError):
    """A torch device this machine does not have; the message lists those it has."""


class SettingsError(FaceSpaceError, ValueError):
    """A setting outside its allowed range; the message names the setting and the range."""


class OutputExistsError(FaceSpaceError):
    """A file that would be written is already there; it is never replaced unless the user asks."""

    def __init__(self, path, how: str = "allow overwriting"):
        self.path = path
        super().__init__(f"{path} already exists; choose another name or {how}")
