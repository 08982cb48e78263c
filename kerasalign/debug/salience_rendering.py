"""Render a `SalienceResult` as an HTML heat map or as coloured terminal text.

Colour intensity is the token's absolute score divided by the largest
absolute score of the prompt; red marks tokens that made the response more
likely, blue those that made it less likely (only signed methods have blue).
Both renderings end with the response and the share of each template part.
"""

import html

import numpy as np

# Background colours of the ANSI 256-colour palette, faint to strong.
_ANSI_POSITIVE = (255, 224, 217, 210, 203, 196)
_ANSI_NEGATIVE = (255, 195, 153, 117, 75, 33)
_KIND_COLOURS = {
    "instructions": "#7a5195",
    "examples": "#ef5675",
    "input": "#2f7ed8",
    "markup": "#aaaaaa",
}


def intensities(scores):
    """Absolute scores scaled to [0, 1] by the largest one.

    Examples:

    >>> intensities(np.array([1.0, -2.0, 0.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    scores = np.asarray(scores, dtype="float64")
    largest = float(np.abs(scores).max()) if scores.size else 0.0
    if largest == 0.0:
        return np.zeros_like(scores)
    return np.abs(scores) / largest


def _printable(text):
    return text.replace("\n", "\u21b5\n").replace("\t", "\u2192")


def _token_span(text, score, intensity):
    colour = "214, 39, 40" if score >= 0 else "31, 119, 180"
    return (
        f'<span style="background: rgba({colour}, {intensity:.3f}); '
        f'border-radius: 2px" title="{score:.4g}">{html.escape(_printable(text))}</span>'
    )


def to_html(result):
    """The prompt as a heat map, the response and a table of template parts.

    Each template part is underlined in its kind's colour; hovering a token
    shows its score.
    """
    weights = intensities(result.scores)
    pieces = []
    for position, (text, score) in enumerate(zip(result.tokens, result.scores, strict=True)):
        new_part = position == 0 or result.labels[position] != result.labels[position - 1]
        if new_part:
            if position:
                pieces.append("</span>")
            colour = _KIND_COLOURS.get(result.kinds[position], "#888888")
            title = html.escape(f"{result.kinds[position]}: {result.labels[position]}", quote=True)
            pieces.append(f'<span style="border-bottom: 2px solid {colour}" title="{title}">')
        pieces.append(_token_span(text, float(score), float(weights[position])))
    if pieces:
        pieces.append("</span>")
    rows = "".join(
        f"<tr><td style='padding: 0 8px; color: {_KIND_COLOURS.get(segment['segment'], '#888888')}'>"
        f"{html.escape(segment['segment'])}</td><td style='text-align: right'>{segment['tokens']}</td>"
        f"<td style='padding: 0 8px'><div style='background: #d62728; height: 10px; "
        f"width: {100 * segment['share']:.1f}px'></div></td>"
        f"<td style='text-align: right'>{100 * segment['share']:.1f}%</td></tr>"
        for segment in result.segment_scores()
    )
    return (
        "<div class='kerasalign-salience' style='font-family: monospace; line-height: 1.8'>"
        f"<div style='color: #666'>salience ({html.escape(result.method)}) of the response, "
        f"log p = {result.log_prob:.3f}</div>"
        f"<div style='white-space: pre-wrap; margin: 4px 0'>{''.join(pieces)}</div>"
        "<div style='white-space: pre-wrap; border-left: 3px solid #2ca02c; padding-left: 6px'>"
        f"{html.escape(result.target)}</div>"
        "<table style='margin-top: 6px'><tr><th>part</th><th>tokens</th><th></th><th>share</th></tr>"
        f"{rows}</table></div>"
    )


def _ansi_background(score, intensity):
    palette = _ANSI_POSITIVE if score >= 0 else _ANSI_NEGATIVE
    level = int(round(intensity * (len(palette) - 1)))
    return palette[level]


def to_terminal(result, color=True):
    """The prompt with ANSI background colours, then the response and parts.

    With `color=False` each token is followed by its score in brackets
    (`token[0.42]`), for logs and terminals without colours.
    """
    weights = intensities(result.scores)
    pieces = []
    for text, score, weight in zip(result.tokens, result.scores, weights, strict=True):
        if color:
            background = _ansi_background(float(score), float(weight))
            pieces.append(f"\x1b[48;5;{background}m\x1b[38;5;16m{text}\x1b[0m")
        else:
            pieces.append(f"{text}[{score:.3g}]")
    lines = [
        "".join(pieces),
        f"--> {result.target!r} (log p = {result.log_prob:.3f}, {result.method})",
    ]
    for segment in result.segment_scores():
        bar = "#" * int(round(20 * segment["share"]))
        lines.append(
            f"  {segment['segment']:<14} {segment['tokens']:>4} tokens "
            f"{100 * segment['share']:5.1f}% {bar}"
        )
    return "\n".join(lines)
