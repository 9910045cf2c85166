"""What a recogniser says about one utterance (:class:`Prediction`)."""

from __future__ import annotations

import dataclasses
from typing import Any
from typing import Literal

from emofuse.predictions import posterior_column


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What a recogniser says about one utterance.

    ``posteriors`` (class -> probability, in the recogniser's class order) and ``emotion`` (the
    most probable class) come from the categorical head; ``valence``, ``arousal`` and
    ``dominance`` (in [-1, 1] as trained) from a dimensional head. ``transcript`` is the text
    the text systems read, ``transcript_source`` says whether it was ``given``, came from
    ``asr``, or there was ``none``. ``systems`` names the trained systems that contributed and
    ``members`` holds their own outputs.
    """

    emotion: str | None
    posteriors: dict[str, float]
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    transcript: str | None = None
    transcript_source: Literal["given", "asr", "none"] = "none"
    systems: tuple[str, ...] = ()
    members: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    duration: float | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``None`` fields left out."""
        data = dataclasses.asdict(self)
        data["systems"] = list(self.systems)
        return {k: v for k, v in data.items() if v is not None}

    def to_row(self) -> dict[str, Any]:
        """One flat row for CSV: ``p_<class>`` columns, no per-member outputs."""
        row: dict[str, Any] = {"source": self.source, "emotion": self.emotion}
        row.update({posterior_column(c): p for c, p in self.posteriors.items()})
        for name in ("valence", "arousal", "dominance"):
            if getattr(self, name) is not None:
                row[name] = getattr(self, name)
        row.update({"transcript": self.transcript, "transcript_source": self.transcript_source,
                    "systems": "+".join(self.systems), "duration": self.duration})
        return row
