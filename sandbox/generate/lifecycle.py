"""How recent documents change as the clock moves: revisions, late arrivals, deletions.

For a document whose cursor day is D and a user whose local today is T, the revision
is r = min((T - D).days, 3). Generators take r, so values of unsettled days (r < 3)
differ from the settled ones while ids stay the same. On top of that a few documents
churn (see `CHURN_RATES`): DELETED ones exist at r = 0..1 and are gone from r = 2,
LATE ones are absent at r = 0 and exist from r = 1. The main night (`long_sleep`) and
the documents derived from it never churn.
"""

from __future__ import annotations

from .randomness import stable_rng

SETTLED = 3
NORMAL, DELETED, LATE = "normal", "deleted", "late"

# collection: (share of documents deleted later, share arriving a day late)
CHURN_RATES: dict[str, tuple[float, float]] = {
    "sleep": (0.05, 0.05),  # naps, rest periods, deleted-type periods
    "workout": (0.03, 0.05),  # rejected autodetections; manual entries made the next day
    "session": (0.0, 0.03),
    "tag": (0.04, 0.04),
    "enhanced_tag": (0.04, 0.04),
    "daily_spo2": (0.0, 0.02),
    "daily_resilience": (0.0, 0.02),
    "daily_cardiovascular_age": (0.0, 0.02),
    "vO2_max": (0.0, 0.05),
}


def revision(local_today: int, day: int) -> int:
    """Revision of a day's documents (0 = today, 3 = settled forever)."""
    return min(local_today - day, SETTLED)


def fate(seed: int, user: int, collection: str, day: int, sequence: int, document: dict) -> str:
    """NORMAL, DELETED or LATE for one document (stable for the document's lifetime)."""
    rates = CHURN_RATES.get(collection)
    if rates is None or (collection == "sleep" and document.get("type") == "long_sleep"):
        return NORMAL
    draw = stable_rng(seed, user, collection, day, sequence, "fate").random()
    deleted, late = rates
    return DELETED if draw < deleted else LATE if draw < deleted + late else NORMAL


def visible(document_fate: str, day_revision: int) -> bool:
    """Whether a document with this fate exists at this revision."""
    if document_fate == DELETED:
        return day_revision < 2
    if document_fate == LATE:
        return day_revision >= 1
    return True
