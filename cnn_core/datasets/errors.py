"""Exceptions raised by the dataset readers and the image decoder.

Every class derives from ``ValueError`` so callers that only know "bad input" can catch that, while
the web service maps each image error to its own HTTP status.
"""


class DatasetError(ValueError):
    """A dataset is missing, damaged or does not have the expected layout.

    The message names the path and the fix.
    """


class ImageError(ValueError):
    """Base class of the errors raised while decoding an image."""


class EmptyImageError(ImageError):
    """The image data is empty."""


class UnsupportedImageError(ImageError):
    """The data is not in any image format that Pillow can read, or the image mode is unknown."""


class CorruptImageError(ImageError):
    """The data starts like an image but is truncated or damaged."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the allowed maximum."""
