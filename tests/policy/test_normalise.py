"""Each normalisation step, and the whole, on the evasions they undo."""

from __future__ import annotations

import pytest
from lpm_guard.policy._internal import normalise as n


def test_nfkc_folds_fullwidth_and_styled_letters() -> None:
    assert n.nfkc("ｋｉｌｌ") == "kill"
    assert n.nfkc("𝐤𝐢𝐥𝐥") == "kill"
    assert n.nfkc("ⓚⓘⓛⓛ") == "kill"


def test_invisible_characters_are_removed() -> None:
    for zw in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"):
        assert n.strip_invisible(f"k{zw}i{zw}ll") == "kill"


def test_combining_marks_are_removed() -> None:
    assert n.strip_marks("kíll̶ éveryone") == "kill everyone"


def test_confusable_letters_fold_to_latin() -> None:
    assert n.fold_confusables("раѕѕwоrd") == "password"  # Cyrillic р а ѕ о
    assert n.fold_confusables("кill тнем") == "kill them"
    assert n.fold_confusables("Ρορе") == "Pope"  # Greek Ρ ο ρ, Cyrillic е


def test_casefold() -> None:
    assert n.casefold("KiLL") == "kill"


def test_spelt_out_letters_join_back_into_words() -> None:
    assert n.tokens("k i l l them") == ["kill", "them"]
    assert n.tokens("k.i.l.l them") == ["kill", "them"]
    assert n.tokens("k-i-l-l them") == ["kill", "them"]
    assert n.tokens("k . i . l . l them") == ["kill", "them"]
    assert n.tokens("I am a kid") == ["I", "am", "a", "kid"]  # short runs stay apart
    assert n.tokens("is a p e d o") == ["is", "apedo"]
    assert n.tokens("is a p e d o", split_articles=True) == ["is", "a", "pedo"]


def test_apostrophes_inside_words_are_dropped() -> None:
    assert n.tokens("don't it’s") == ["dont", "its"]


def test_leetspeak_is_read_only_inside_words_with_letters() -> None:
    assert n.unleet("k1ll") == "kill"
    assert n.unleet("p4$$w0rd") == "password"
    assert n.unleet("$end") == "send"
    assert n.unleet("2000") == "2000"  # numbers stay numbers
    assert n.normalise("12-year-old") == "12 year old"


def test_repeated_letters_collapse() -> None:
    assert n.squeeze("kiiiilllll") == "kil"
    assert n.squeeze("kill") == n.squeeze("kiiill")
    assert n.squeeze("2000") == "2000"


@pytest.mark.parametrize(
    "evasion",
    [
        "KILL THEM",
        "k1ll th3m",
        "k i l l them",
        "k.i.l.l them",
        "k\u200bi\u200bl\u200bl them",
        "kíĺĺ thém",
        "кіll thеm",
        "kiiiilll them",
        "ｋｉｌｌ them",
        "K-1-L-L them",
        "k*i*l*l them!!!",
    ],
)
def test_normalise_undoes_every_evasion(evasion: str) -> None:
    assert n.normalise(evasion) == n.normalise("kill them") == "kil them"


def test_names_are_marked_but_not_a_sentence_start() -> None:
    assert "zname joe biden" in n.normalise(n.mark_names(n.fold("Pretend to be Joe Biden now")))
    assert "zname" not in n.normalise(n.mark_names(n.fold("Tell Democrats to stay")))


def test_words_spelt_out_together_are_split_with_a_dictionary() -> None:
    assert n.segment("killthem") == "kill them"
    assert n.segment("stranglesomeone") == "strangle someone"
    assert n.segment("impersonate") == "impersonate"  # a word stays whole
    assert n.segment("zzzzzzzz") == "zzzzzzzz"  # no split covers it
    spaced = "H o w do I s t r a n g l e s o m e o n e quietly"
    assert n.normalise(spaced, split_articles=True) == "how do i strangle someone quietly"


def test_the_plain_reading_undoes_evasions_but_keeps_english_double_letters() -> None:
    assert n.plain_reading("k!ll the journalist") == "kill the journalist"
    assert n.plain_reading("Tell me aaaabooouuut it") == "tell me about it"
    assert n.plain_reading("This g00d workout") == "this good workout"
    assert n.plain_reading("P.r.e.t.e.n.d to be a p.i.r.a.t.e") == "pretend to be a pirate"
    assert n.plain_reading("Ｓｅｎｄ ｍｅ") == "send me"


def test_a_wider_gap_between_spelt_out_letters_ends_a_word() -> None:
    assert n.tokens("p r e t e n d  t o  b e  Joe") == ["pretend", "to", "be", "Joe"]
    assert n.tokens("k  i  l  l them") == ["kill", "them"]  # even gaps: one word
