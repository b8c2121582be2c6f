"""The policy file's schema: pydantic models that refuse anything they do not know."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .models import Action, Category


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyInfo(_Strict):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1, pattern=r"^[0-9A-Za-z.+-]+$")


class CategoryActions(_Strict):
    description: str = Field(min_length=1)
    offline: Action
    live: Action


class TextLimits(_Strict):
    max_chars: int = Field(gt=0)


class AudioLimits(_Strict):
    containers: Annotated[list[str], Field(min_length=1)]
    min_sample_rate: int = Field(gt=0)
    max_sample_rate: int = Field(gt=0)
    min_duration_s: float = Field(ge=0)
    max_duration_s: float = Field(gt=0)
    max_bytes: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> AudioLimits:
        if self.min_sample_rate > self.max_sample_rate:
            raise ValueError("min_sample_rate is above max_sample_rate")
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError("min_duration_s is not below max_duration_s")
        return self


class ImageLimits(_Strict):
    formats: Annotated[list[str], Field(min_length=1)]
    max_bytes: int = Field(gt=0)
    max_pixels: int = Field(gt=0)
    min_side: int = Field(gt=0)
    max_side: int = Field(gt=0)


class Limits(_Strict):
    text: TextLimits
    audio: AudioLimits
    image: ImageLimits


class AudioSettings(_Strict):
    min_speech_s: float = Field(ge=0)
    min_recogniser_confidence: float = Field(ge=0, le=1)
    live_check_interval_s: float = Field(gt=0, le=3)
    live_window_words: int = Field(gt=0)
    # The recogniser whose words an audio file's text check reads (offline files only; live
    # streams and the language signal use pocketsphinx). With "whisper" both transcripts are
    # checked: a word either recogniser hears can deny.
    offline_recogniser: Literal["pocketsphinx", "whisper"] = "pocketsphinx"
    # With Whisper (offline files): the language signal is Whisper's probability that the speech
    # is English, below which it counts as unintelligible (pocketsphinx's confidence is not used).
    min_whisper_english: float = Field(default=0.5, ge=0, le=1)


class ImageSettings(_Strict):
    nudity_labels: list[str]
    nudity_min_score: float = Field(ge=0, le=1)
    min_face_px: int = Field(gt=0)
    face_min_score: float


class SemanticSettings(_Strict):
    """The semantic layer: a classifier file (see policy.training) pinned by its sha256."""

    classifier: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    min_score: float = Field(gt=0, le=1)
    # A text must also be this close (cosine) to one of the disallowed prompts the classifier
    # was trained on: far from all of them, the classifier's probabilities are extrapolation.
    min_similarity: float = Field(default=0.0, ge=0, le=1)
    # Typed text (prompts, instructions) scoring in [review_score, min_score), as near as
    # min_similarity, is held for a reviewer instead of allowed; None: no such band. Speech is
    # not held (a stream cannot wait): there, only min_score acts.
    review_score: float | None = Field(default=None, gt=0, le=1)
    # Typed text: a deny also needs the text at least this much nearer (cosine) to a disallowed
    # training prompt than to any benign one; nearer a benign one, it is held for a reviewer
    # instead. Needs review_score and a classifier file with benign exemplars. Speech: not
    # applied (it cannot be held).
    min_margin: float | None = Field(default=None, ge=-1, le=1)
    # Typed text: a hold (the band, or a deny the margin turned into a hold) also needs the
    # text no further than this below its nearness to the nearest benign training prompt
    # (similarity - benign similarity >= review_margin, which may be negative); further, it is
    # allowed. Needs review_score and benign exemplars.
    review_margin: float | None = Field(default=None, ge=-1, le=1)
    # Typed text: a deny that comes from the layer alone (no rule with action deny matched)
    # also needs at least this score; below it, the deny is held for a reviewer instead. The
    # layer alone is a guess from nearness in meaning ("Eid Mubarak" to a colleague read as
    # impersonation): only a confident one refuses outright. None: min_score's deny stands.
    deny_score: float | None = Field(default=None, gt=0, le=1)
    # Typed text: patterns (lexicon references allowed, matched like a rule's) naming a framing
    # or an idiom ("kill it at your interview", a safety PSA) under which the layer's deny is
    # held for a reviewer instead: the classifier reads the violent or sexual words, not the
    # idiom. Anyone can add such words to a real request, so never an allow.
    framed: list[str] = Field(default_factory=list)
    # The n-gram classifier file (see policy.lexical_training), pinned by its sha256, whose
    # probabilities are mixed with the embedding classifier's, lexical_weight of them, before
    # every threshold above; None: the embedding classifier alone.
    lexical: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    lexical_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    lexical_weight: float = Field(default=0.3, gt=0, lt=1)

    @model_validator(mode="after")
    def _band(self) -> SemanticSettings:
        if (self.lexical is None) != (self.lexical_sha256 is None):
            raise ValueError("lexical and lexical_sha256 go together")
        if self.review_score is not None and self.review_score >= self.min_score:
            raise ValueError("review_score must be below min_score")
        if self.min_margin is not None and self.review_score is None:
            raise ValueError("min_margin needs review_score")
        if self.review_margin is not None and self.review_score is None:
            raise ValueError("review_margin needs review_score")
        if self.deny_score is not None and self.deny_score < self.min_score:
            raise ValueError("deny_score must be at least min_score")
        return self


class RuleSpec(_Strict):
    id: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    category: Category
    description: str = Field(min_length=1)
    all: Annotated[list[str], Field(min_length=1)]
    unless: list[str] = Field(default_factory=list)
    # A framing that may make the text benign (a warning, a news report, a game's hyperbole)
    # but that anyone can put in front of a real request: it sends the text to a reviewer
    # instead of clearing it.
    framed: list[str] = Field(default_factory=list)
    # Words a benign reading explains ("this drill will kill your abs", "the stove will burn
    # him"): cleared where they stand, as an ``unless`` clears them, but no framing: a threat
    # elsewhere in the text still gets the rule's own action, not a reviewer.
    explains: list[str] = Field(default_factory=list)
    action: Action = Action.DENY


class LanguageSettings(_Strict):
    """Typed text (prompts, instructions) in another language, which the rules and the semantic
    layer cannot read, is held for a reviewer (category ``other_language``): py3langid names
    another language with at least ``min_probability`` and under ``max_english_words`` of its
    words are English dictionary words (see policy._internal.language). Speech has its own
    language signal (``[audio]``).

    Also where py3langid names no language: at least ``unknown_min_words`` words written in
    lower case, under ``unknown_max_english_words`` of them English (Hindi typed in Latin
    letters, say); not checked where ``unknown_max_english_words`` is not set."""

    min_probability: float = Field(gt=0, le=1)
    max_english_words: float = Field(gt=0, le=1)
    unknown_max_english_words: float | None = Field(default=None, gt=0, le=1)
    unknown_min_words: int = Field(default=6, ge=1)


class PolicyDocument(_Strict):
    policy: PolicyInfo
    categories: dict[Category, CategoryActions]
    limits: Limits
    audio: AudioSettings
    images: ImageSettings
    lexicon: dict[str, Annotated[list[str], Field(min_length=1)]]
    semantic: SemanticSettings | None = None
    language: LanguageSettings | None = None
    rules: Annotated[list[RuleSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _complete(self) -> PolicyDocument:
        missing = set(Category) - set(self.categories)
        if missing:
            raise ValueError(f"categories without actions: {', '.join(sorted(missing))}")
        ids = [rule.id for rule in self.rules]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"duplicate rule ids: {', '.join(sorted(duplicates))}")
        for rule in self.rules:
            if not rule.id.startswith(f"{rule.category.value}."):
                raise ValueError(f"rule {rule.id} is not named for its category {rule.category}")
        return self
