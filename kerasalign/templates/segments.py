"""`Segment`: a piece of rendered text and whether the loss is computed on it."""

from typing import NamedTuple


class Segment(NamedTuple):
    """A piece of a rendered training example.

    Args:
        text: str. The text of the piece.
        is_target: bool. True for response text the model learns to produce
            (sample weight 1), False for prompt text (sample weight 0).
    """

    text: str
    is_target: bool


def merge_segments(segments):
    """Join neighbouring segments that share `is_target`; drop empty ones.

    Examples:

    >>> merge_segments([Segment("a", False), Segment("b", False), Segment("c", True)])
    [Segment(text='ab', is_target=False), Segment(text='c', is_target=True)]
    """
    merged = []
    for segment in segments:
        if not segment.text:
            continue
        if merged and merged[-1].is_target == segment.is_target:
            merged[-1] = Segment(merged[-1].text + segment.text, segment.is_target)
        else:
            merged.append(segment)
    return merged
