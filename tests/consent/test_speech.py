from __future__ import annotations

from lpm_guard.consent import speech


def test_the_phrase_is_found_in_order_with_a_little_slack() -> None:
    phrase = "purple river seven"
    assert speech.phrase_spoken("my challenge phrase is purple river seven", phrase)
    assert speech.phrase_spoken("phrase as purple a river seven and", phrase)
    assert not speech.phrase_spoken("purple seven river", phrase)
    assert not speech.phrase_spoken("purple river", phrase)
    assert not speech.phrase_spoken("purple the a river seven", phrase)
    assert not speech.phrase_spoken("anything", "")


def test_challenge_phrases_draw_from_the_lists() -> None:
    phrases = {speech.new_challenge_phrase() for _ in range(50)}
    assert len(phrases) > 40
    for phrase in phrases:
        colour, thing, number = phrase.split()
        assert colour in speech.COLOURS and thing in speech.THINGS and number in speech.NUMBERS
