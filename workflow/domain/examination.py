"""Examination as the award runs it, pure: the cycle's criteria and scale, the examiner team,
each examiner's assessment and the team's consensus. Every check returns its Swedish reasons
(empty: fine); the services refuse with them and change nothing.

An examiner sees the others' assessments only once their own is submitted (as in HotCRP and
OpenReview): nobody's score is anchored on a colleague's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import mean
from typing import Any

from workflow.domain.errors import Reason
from workflow.domain.rules import date_reason, parse_date

DRAFT = "draft"
SUBMITTED = "submitted"
DEFAULT_SCALE = (1, 5)
DEFAULT_TEAM_SIZE = 2
MAX_SCALE_STEPS = 10
MAX_CRITERIA = 30
MAX_NAME = 200
MAX_TEXT = 10_000
MAX_INTERVIEWED = 1000

# A suggestion for a new cycle's criteria, to be changed by the award office before the first
# assessment is saved (the seeds do not list the award's criteria).
DEFAULT_CRITERIA: tuple[tuple[str, str], ...] = (
    ("Ledarskap", "Hur ledningen ger riktning, skapar förutsättningar och följer upp arbetet."),
    ("Brukar- och medborgarfokus", "Hur verksamheten tar reda på och möter brukarnas behov."),
    ("Medarbetarskap", "Hur medarbetarna är delaktiga, utvecklas och tar ansvar."),
    ("Processer och arbetssätt", "Hur arbetet är organiserat, beskrivet och förbättras."),
    ("Resultat", "Vilka resultat verksamheten når och hur de mäts och jämförs."),
    ("Lärande och förbättring", "Hur verksamheten lär av andra och av sina egna resultat."),
)
DEFAULT_CRITERIA_NOTE = (
    "Förslag på bedömningsgrunder: kansliet kan ändra dem före första bedömningen."
)

CRITERIA_LOCKED = Reason(
    "criteria_locked",
    "Bedömningsgrunderna och skalan kan inte ändras: en bedömning i omgången är redan sparad.",
)
NOT_ALL_SUBMITTED = Reason(
    "assessments_missing",
    "Konsensus kan skrivas först när alla examinatorer i teamet har lämnat in sina bedömningar.",
)
NOT_LEAD = Reason("not_lead", "Bara teamets huvudexaminator skriver konsensus.")
ALREADY_SUBMITTED = Reason(
    "assessment_submitted",
    "Bedömningen är inlämnad och låst. Kansliet kan öppna den igen vid behov.",
)
CONSENSUS_DONE = Reason("consensus_submitted", "Konsensus är redan fastställd för posten.")
NOT_READY = Reason(
    "entry_not_submitted",
    "Posten kan examineras först när bidraget är inlämnat (och ännu inte examinerat).",
)


@dataclass(frozen=True)
class Scale:
    low: int = DEFAULT_SCALE[0]
    high: int = DEFAULT_SCALE[1]

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1))

    def label(self) -> str:
        return f"{self.low}–{self.high}"


@dataclass(frozen=True)
class Criterion:
    id: int
    name: str
    description: str = ""


def _text_reason(label: str, value: str, limit: int) -> Reason | None:
    if len(value) > limit:
        return Reason("too_long", f"{label} får vara högst {limit} tecken.")
    return None


def setting_reasons(scale: Scale, team_size: int) -> list[Reason]:
    reasons = []
    if not 0 <= scale.low < scale.high <= min(scale.low + MAX_SCALE_STEPS - 1, 100):
        reasons.append(
            Reason(
                "invalid_scale",
                f"Skalan måste gå från ett lägre till ett högre heltal mellan 0 och 100, "
                f"med högst {MAX_SCALE_STEPS} steg.",
            )
        )
    if not 2 <= team_size <= 10:
        reasons.append(
            Reason("invalid_team_size", "Ett examinatorsteam har mellan 2 och 10 examinatorer.")
        )
    return reasons


def criteria_reasons(criteria: Sequence[tuple[str, str]]) -> list[Reason]:
    """A criteria list: at least one, names given, unique and not too long."""
    reasons: list[Reason] = []
    if not criteria:
        reasons.append(Reason("no_criteria", "Ange minst en bedömningsgrund."))
    if len(criteria) > MAX_CRITERIA:
        reasons.append(Reason("too_many_criteria", f"Högst {MAX_CRITERIA} bedömningsgrunder."))
    seen: set[str] = set()
    for number, (name, description) in enumerate(criteria, start=1):
        if not name.strip():
            reasons.append(Reason("missing_name", f"Bedömningsgrund {number} saknar namn."))
        elif name.strip().casefold() in seen:
            reasons.append(
                Reason("duplicate_name", f"Bedömningsgrunden '{name}' finns två gånger.")
            )
        seen.add(name.strip().casefold())
        for reason in (
            _text_reason(f"Namnet på bedömningsgrund {number}", name, MAX_NAME),
            _text_reason(f"Beskrivningen av bedömningsgrund {number}", description, MAX_TEXT),
        ):
            if reason is not None:
                reasons.append(reason)
    return reasons


@dataclass(frozen=True)
class Candidate:
    """An examiner as the team rule sees them."""

    id: int
    name: str
    organisation_id: int | None
    is_examiner: bool = True


def team_reasons(
    members: Sequence[int], lead: int | None, team_size: int, known: Mapping[int, Candidate]
) -> list[Reason]:
    """A team: enough distinct examiners, each one known, the lead one of them."""
    reasons: list[Reason] = []
    if len(set(members)) != len(members):
        reasons.append(Reason("duplicate_examiner", "Samma examinator är angiven två gånger."))
    for member in dict.fromkeys(members):
        candidate = known.get(member)
        if candidate is None or not candidate.is_examiner:
            reasons.append(Reason("not_found", f"Examinatorn med id {member} finns inte."))
    if len(set(members)) < team_size:
        reasons.append(
            Reason(
                "too_few_examiners",
                f"Ett examinatorsteam har minst {team_size} examinatorer i den här omgången.",
            )
        )
    if lead is None or lead not in members:
        reasons.append(
            Reason("missing_lead", "Välj en huvudexaminator bland teamets examinatorer.")
        )
    return reasons


def distribute(
    entries: Sequence[tuple[int, int, Sequence[int]]],
    pool: Sequence[Candidate],
    team_size: int,
    load: Mapping[int, int],
) -> tuple[dict[int, list[int]], list[int]]:
    """Teams for a class: each entry `(id, organisation, current team)` is filled up to
    `team_size` from `pool`, least loaded first, never from the entry's own organisation.
    Returns ({entry: new members}, entries that could not be filled)."""
    counts = dict(load)
    added: dict[int, list[int]] = {}
    short: list[int] = []
    for entry_id, organisation_id, current in entries:
        need = team_size - len(current)
        if need <= 0:
            continue
        free = [
            c for c in pool
            if c.id not in current and c.organisation_id not in (None, organisation_id)
        ]  # fmt: skip
        free.sort(key=lambda c: (counts.get(c.id, 0), c.name, c.id))
        if len(free) < need:
            short.append(entry_id)
            continue
        added[entry_id] = [c.id for c in free[:need]]
        for chosen in added[entry_id]:
            counts[chosen] = counts.get(chosen, 0) + 1
    return added, short


# --- one examiner's assessment ------------------------------------------------------------

INTERVIEW_GROUPS = {"manager": "chefen", "staff": "medarbetare", "others": "andra"}


def _score(raw: Any, scale: Scale, criterion: Criterion) -> tuple[int | None, Reason | None]:
    if raw is None or raw == "":
        return None, None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = None
    if value is None or value not in scale.scores:
        return None, Reason(
            "score_out_of_scale",
            f"Poängen för '{criterion.name}' måste vara ett heltal {scale.label()}.",
        )
    return value, None


def clean_criteria(
    given: Mapping[str, Any], criteria: Sequence[Criterion], scale: Scale
) -> tuple[dict[str, dict[str, Any]], list[Reason]]:
    """Per criterion (by id as text) score, strengths and development areas, checked."""
    reasons: list[Reason] = []
    known = {str(c.id) for c in criteria}
    for key in given:
        if key not in known:
            reasons.append(Reason("unknown_criterion", f"Okänd bedömningsgrund '{key}'."))
    cleaned: dict[str, dict[str, Any]] = {}
    for criterion in criteria:
        raw = given.get(str(criterion.id)) or {}
        if not isinstance(raw, Mapping):
            raw = {}
        score, problem = _score(raw.get("score"), scale, criterion)
        row: dict[str, Any] = {
            "score": score,
            "strengths": str(raw.get("strengths") or "").strip(),
            "development_areas": str(raw.get("development_areas") or "").strip(),
        }
        for label, field in (
            ("Styrkorna", "strengths"),
            ("Utvecklingsområdena", "development_areas"),
        ):
            too_long = _text_reason(f"{label} för '{criterion.name}'", str(row[field]), MAX_TEXT)
            if too_long is not None:
                reasons.append(too_long)
        if problem is not None:
            reasons.append(problem)
        cleaned[str(criterion.id)] = row
    return cleaned, reasons


def clean_interviews(given: Mapping[str, Any]) -> tuple[dict[str, Any], list[Reason]]:
    """How many were interviewed per group (manager, staff, others) and who the others were."""
    reasons: list[Reason] = []
    cleaned: dict[str, Any] = {}
    for group, label in INTERVIEW_GROUPS.items():
        raw = str(given.get(group, 0) if given.get(group) not in (None, "") else 0).strip()
        if not raw.isdigit() or int(raw) > MAX_INTERVIEWED:
            reasons.append(
                Reason(
                    "invalid_interviews",
                    f"Antalet intervjuade ({label}) måste vara ett heltal 0–{MAX_INTERVIEWED}.",
                )
            )
            continue
        cleaned[group] = int(raw)
    who = str(given.get("others_who") or "").strip()
    too_long = _text_reason("Vilka andra som intervjuades", who, MAX_NAME)
    if too_long is not None:
        reasons.append(too_long)
    cleaned["others_who"] = who
    return cleaned, reasons


def clean_site_visit(raw: Any) -> tuple[date | None, list[Reason]]:
    text = str(raw or "").strip()
    if not text:
        return None, []
    day = parse_date(text)
    if day is None:
        return None, [Reason("invalid_date", f"'{text}' är inget datum (ÅÅÅÅ-MM-DD).")]
    implausible = date_reason("Platsbesöket", day)
    return (None, [implausible]) if implausible is not None else (day, [])


def completeness_reasons(
    criteria: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, str],
    *,
    site_visit_on: date | None = None,
    interviews: Mapping[str, Any] | None = None,
) -> list[Reason]:
    """What a submission still lacks: a score per criterion; for an individual assessment
    also the site visit and at least one interview with the manager or staff."""
    reasons = [
        Reason("missing_score", f"Ange poäng för '{names[key]}'.")
        for key, row in criteria.items()
        if row.get("score") is None
    ]
    if interviews is not None:
        if site_visit_on is None:
            reasons.append(Reason("missing_site_visit", "Ange dagen för platsbesöket."))
        if not (interviews.get("manager") or interviews.get("staff")):
            reasons.append(
                Reason(
                    "missing_interviews",
                    "Ange intervjuerna: minst chefen eller någon medarbetare ska ha intervjuats.",
                )
            )
    return reasons


def may_read_assessment(
    viewer_id: int, *, is_admin: bool, author_id: int, own_status: str | None
) -> bool:
    """The admin reads every assessment; an examiner their own, and a colleague's once their
    own is submitted."""
    return is_admin or viewer_id == author_id or own_status == SUBMITTED


# --- the team's consensus -----------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    scores: tuple[int, ...]

    @property
    def low(self) -> int | None:
        return min(self.scores) if self.scores else None

    @property
    def high(self) -> int | None:
        return max(self.scores) if self.scores else None

    @property
    def mean(self) -> float | None:
        return round(mean(self.scores), 1) if self.scores else None

    @property
    def width(self) -> int:
        return (max(self.scores) - min(self.scores)) if self.scores else 0


def spreads(
    assessments: Sequence[Mapping[str, Mapping[str, Any]]], criteria: Sequence[Criterion]
) -> dict[str, Spread]:
    """Per criterion the individual scores given, to show beside the consensus."""
    return {
        str(c.id): Spread(
            tuple(
                int(a[str(c.id)]["score"])
                for a in assessments
                if a.get(str(c.id), {}).get("score") is not None
            )
        )
        for c in criteria
    }


def consensus_reasons(*, is_lead: bool, statuses: Sequence[str]) -> list[Reason]:
    """Who may write the consensus, and when: the lead, once every member has submitted."""
    reasons = [] if is_lead else [NOT_LEAD]
    if not statuses or any(status != SUBMITTED for status in statuses):
        reasons.append(NOT_ALL_SUBMITTED)
    return reasons


def examined_data(site_visits: Sequence[date | None], examiners: Sequence[str]) -> dict[str, str]:
    """The `examined` stage's data from the team: the (last) site visit and the examiners'
    names, so the e-mails and documents that read it keep working."""
    days = [day for day in site_visits if day is not None]
    data = {"examiner": ", ".join(examiners)}
    if days:
        data["site_visit_on"] = max(days).isoformat()
    return data
