"""Stop sequences over a growing text: never emitted, not even in part, and nothing else held back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tunewise_local._stops import held_back, scan


def stream(pieces: list[str], stops: list[str]) -> tuple[str, bool]:
    """What a client would see, feeding ``pieces`` one at a time as the engine does."""
    text, emitted, out = "", 0, []
    for i, piece in enumerate(pieces):
        text += piece
        end, stopped = scan(text, emitted, stops, final=i == len(pieces) - 1)
        out.append(text[emitted:end])
        emitted = end
        if stopped:
            return "".join(out), True
    return "".join(out), False


def test_held_back_is_the_longest_partial_stop() -> None:
    assert held_back("hello wor", ["world"]) == 3
    assert held_back("hello", ["xyz"]) == 0
    assert held_back("ab", ["abc", "b!"]) == 2


def test_stop_split_across_pieces_is_never_shown() -> None:
    assert stream(["Hello ", "EN", "D more"], ["END"]) == ("Hello ", True)
    assert stream(["a\n", "\nb"], ["\n\n"]) == ("a", True)


def test_a_partial_stop_at_the_very_end_is_released() -> None:
    assert stream(["Hello EN"], ["END"]) == ("Hello EN", False)


def test_half_a_character_waits_for_its_other_half() -> None:
    assert scan("caf\ufffd", 0, [], final=False) == (3, False)


pieces_st = st.lists(st.text(alphabet="abc\n", max_size=6), min_size=1, max_size=8)
stops_st = st.lists(st.text(alphabet="abc\n", min_size=1, max_size=3), max_size=2)


@given(pieces_st, stops_st)
def test_streaming_equals_cutting_the_whole_text(pieces: list[str], stops: list[str]) -> None:
    whole = "".join(pieces)
    cuts = [whole.find(s) for s in stops if s in whole]
    expected = whole[: min(cuts)] if cuts else whole
    seen, stopped = stream(pieces, stops)
    assert seen == expected
    assert stopped == bool(cuts)
    assert not any(s in seen for s in stops)
