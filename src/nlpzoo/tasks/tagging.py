"""Tag schemes of token classification (IOB1, IOB2, IOBES): checking, conversion, and entity spans.

A tag is `O` or `PREFIX-TYPE` (`B-PER`). IOB1 uses `B-` only between two adjacent chunks of
the same type; IOB2 starts every chunk with `B-`; IOBES adds `E-` (end) and `S-` (single).
Scheme names are lowercase (`iob2`); `scheme_name` accepts any case, as users type them. The
DataModule checks and converts tags here, and the span metric reads entities here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nlpzoo.errors import ConfigError

SCHEMES = ("iob1", "iob2", "iobes")
PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "iobes": ("B", "I", "E", "S")}

Span = tuple[str, int, int]  # (entity type, first token, one past the last token)


def scheme_name(scheme: str, setting: str = "tag scheme") -> str:
    """`IOB2` or `iob2` -> `iob2`; a ConfigError naming the `setting` for a name that is no scheme."""
    name = str(scheme).lower()
    if name not in SCHEMES:
        raise ConfigError(f"{setting}={scheme!r} is not one of {', '.join(SCHEMES)}")
    return name


def split_tag(tag: str) -> tuple[str, str]:
    """`B-PER` -> ("B", "PER"); `O` -> ("O", "")."""
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def entity_types(tags: Iterable[str]) -> list[str]:
    """Sorted entity types of tags (`B-PER`, `I-PER`, `O` -> [`PER`])."""
    return sorted({split_tag(tag)[1] for tag in tags if tag != "O"} - {""})


def detect_scheme(sequences: Sequence[Sequence[str]]) -> str:
    """IOBES if any E-/S- tag, IOB1 if some chunk starts with I-, else IOB2."""
    iob1 = False
    for tags in sequences:
        previous = "O"
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("E", "S"):
                return "iobes"
            if prefix == "I" and split_tag(previous)[1] != kind:
                iob1 = True
            previous = tag
    return "iob1" if iob1 else "iob2"


def infer_scheme(label_names: Sequence[str]) -> str:
    """The scheme of a tag set: IOBES when any tag starts with E- or S-, else IOB2 (IOB1 must be declared: its tags look the same)."""
    return "iobes" if {split_tag(name)[0] for name in label_names} & {"E", "S"} else "iob2"


def tag_problem(tags: Sequence[str], scheme: str) -> str | None:
    """Why the sequence is not valid in the scheme, or None when it is."""
    allowed = PREFIXES[scheme]
    previous_prefix, previous_kind = "O", ""
    for position, tag in enumerate([*tags, "O"]):
        prefix, kind = split_tag(tag)
        if prefix != "O" and (prefix not in allowed or not kind):
            return f"tag {tag!r} at token {position + 1} is not {scheme.upper()} (prefixes {'/'.join(allowed)}-TYPE or O)"
        continues = previous_prefix in ("B", "I") and previous_kind == kind
        if scheme == "iob2" and prefix == "I" and not continues:
            return f"tag {tag!r} at token {position + 1} continues no chunk (IOB2 starts chunks with B-)"
        if scheme == "iob1" and prefix == "B" and not continues:
            return (
                f"tag {tag!r} at token {position + 1}: IOB1 uses B- only right after a chunk of the same type"
            )
        if scheme == "iobes":
            open_chunk = previous_prefix in ("B", "I")
            if prefix in ("I", "E") and not continues:
                return f"tag {tag!r} at token {position + 1} continues no chunk"
            if open_chunk and not (prefix in ("I", "E") and continues):
                return f"the chunk before token {position + 1} never ends (IOBES ends chunks with E-)"
        previous_prefix, previous_kind = prefix, kind
    return None


def tags_to_spans(tags: Sequence[str], scheme: str = "iob2", strict: bool = True) -> list[Span]:
    """Chunks of one sentence, in order.

    strict (seqeval's `mode="strict"`, for scoring): only well-formed chunks count: IOB2 B-X then
    I-X...; IOBES S-X, or B-X I-X... E-X (a chunk never closed by E- is none); a stray I-/E-
    starts nothing, and a tag outside the scheme is a ConfigError. IOB1 is read as conlleval
    reads it: an I-X that continues no X chunk starts one. Not strict: every scheme read that
    lenient way (a stray I-/E- starts a chunk, an open chunk ends where the next begins).
    """
    scheme = scheme_name(scheme)
    allowed = ("O", *PREFIXES[scheme])
    if strict:
        for tag in tags:
            if split_tag(tag)[0] not in allowed:
                raise ConfigError(
                    f"tag '{tag}' is not valid in the {scheme.upper()} scheme (prefixes: {', '.join(allowed[1:])}, O)"
                )
    lenient = not strict or scheme == "iob1"
    spans: list[Span] = []
    start, current = -1, ""  # the open chunk: its first token and type
    for position, tag in enumerate([*tags, "O"]):
        prefix, kind = split_tag(tag)
        continues = start >= 0 and prefix in ("I", "E") and kind == current
        if start >= 0 and not continues:
            if lenient or scheme != "iobes":  # strict IOBES: a chunk must end with E-
                spans.append((current, start, position))
            start = -1
        if not continues and (prefix in ("B", "S") or (lenient and prefix in ("I", "E"))):
            start, current = position, kind
        if prefix in ("E", "S") and start >= 0:
            spans.append((current, start, position + 1))
            start = -1
    return spans


def spans_to_tags(spans: Sequence[Span], length: int, scheme: str) -> list[str]:
    """Write chunks as tags of the scheme."""
    tags = ["O"] * length
    ends = {(kind, end) for kind, _, end in spans}
    for kind, start, end in spans:
        for position in range(start, end):
            tags[position] = f"I-{kind}"
        if scheme == "iob2" or (scheme == "iob1" and (kind, start) in ends):
            tags[start] = f"B-{kind}"
        elif scheme == "iobes":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
    return tags


def convert_tags(tags: Sequence[str], scheme: str) -> list[str]:
    """The same chunks (of a valid sequence in any scheme) in another scheme."""
    return spans_to_tags(tags_to_spans(tags, strict=False), len(tags), scheme)


def scheme_labels(types: Sequence[str], scheme: str) -> list[str]:
    """Every tag the scheme can write for these types: O first, then PREFIX-TYPE by type."""
    return ["O"] + [f"{prefix}-{kind}" for kind in sorted(types) for prefix in PREFIXES[scheme]]
