"""Swedish words for values: the formatters every template uses (letters, documents, pages).

One module, so that "17 maj 2024", "kl. 9.00–12.00" and "äldreomsorg" are written the same way
in an e-mail, a tjänsteutlåtande and a web page. Each function is pure (the day it counts from
is a parameter); the Jinja environments register them as filters, mostly under their own
names (`FILTERS`). Strict formatters raise on a value they cannot read, so a letter never goes
out with a wrong date; the `…_or_text` / `…_or_code` forms are for pages, which show what they
have rather than fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_timedelta

from workflow.domain.calendar import STOCKHOLM
from workflow.domain.rules import AWARD_CLASSES, normalise_award_class

# fmt: off
_MONTHS_SV = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
              "september", "oktober", "november", "december")
_NUMBERS_SV = ("noll", "en", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio",
               "elva", "tolv")
_ORDINALS_SV = ("nollte", "första", "andra", "tredje", "fjärde", "femte", "sjätte", "sjunde",
                "åttonde", "nionde", "tionde", "elfte", "tolfte", "trettonde", "fjortonde",
                "femtonde", "sextonde", "sjuttonde", "artonde", "nittonde", "tjugonde")
# fmt: on


# --- dates and times -------------------------------------------------------------------------


def datum(value: date | datetime | str) -> str:
    """A date in Swedish, as the seeds write it: "17 maj 2024" (datetimes in Stockholm time)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(STOCKHOLM)
        value = value.date()
    if not isinstance(value, date):
        raise TypeError(f"Inget datum: {value!r}")
    return f"{value.day} {_MONTHS_SV[value.month - 1]} {value.year}"


def datum_or_text(value: date | datetime | str) -> str:
    """`datum(value)`, or the value as it stands when it is not a date (a page shows it)."""
    try:
        return datum(value)
    except (TypeError, ValueError):
        return str(value)


def manad(value: date | datetime | str) -> str:
    """The month of a date, in Swedish: "2024-12-15" → "december" ("i december")."""
    return datum(value).split(" ")[1]


def day_and_month(value: date) -> str:
    """ "6 maj": the date without its year, for a list that ends with the year once."""
    return datum(value).rsplit(" ", 1)[0]


def isodatum(value: date | datetime | str) -> str:
    """A date as the page header writes it: "2024-05-21"."""
    if isinstance(value, datetime):
        value = value.astimezone(STOCKHOLM).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()


def tid(value: datetime | str) -> str:
    """A timestamp in Stockholm time: "2 april 2024 kl. 11.30"."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(STOCKHOLM)
    return f"{datum(local.date())} kl. {local:%H.%M}"


def hours_span(starts_at: str | None, ends_at: str | None) -> str | None:
    """Swedish style "kl. 9.00–12.00" from "09:00" and "12:00"; None when either is missing."""
    if not starts_at or not ends_at:
        return None

    def clock(value: str) -> str:
        hours, minutes = value.split(":")[:2]
        return f"{int(hours)}.{minutes}"

    return f"kl. {clock(starts_at)}–{clock(ends_at)}"


def days_from(day: date, today: date) -> str:
    """How far `day` is from `today`: "i dag", "i morgon", "om 3 dagar", "för 2 dagar sedan"."""
    days = (day - today).days
    if days == 0:
        return "i dag"
    if days == 1:
        return "i morgon"
    if days == -1:
        return "i går"
    return f"om {days} dagar" if days > 0 else f"för {-days} dagar sedan"


def varaktighet(seconds: float) -> str:
    """'7 minuter', '5 timmar': how long something has waited, in Swedish."""
    return str(format_timedelta(timedelta(seconds=seconds), locale="sv_SE"))


# --- names and numbers -----------------------------------------------------------------------


def klass(value: str) -> str:
    """An award class code (or name) as its Swedish name: "aldreomsorg" → "äldreomsorg"."""
    code = normalise_award_class(value)
    if code is None:
        raise ValueError(f"Okänd klass: {value!r}")
    return AWARD_CLASSES[code]


def klass_or_code(code: str) -> str:
    """The Swedish name of an award class code, or the code itself when it is not one."""
    return AWARD_CLASSES.get(code, code)


def lista(items: Sequence[Any], conjunction: str = "och") -> str:
    """Items joined as Swedish writes them: "A", "A och B", "A, B och C"."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def versal(text: Any) -> str:
    """The first letter in upper case, the rest untouched ("nämnden" → "Nämnden")."""
    value = str(text)
    return value[:1].upper() + value[1:]


def antal(number: int) -> str:
    """A count as Swedish prose writes it: words up to twelve, digits above ("fem", "15")."""
    return _NUMBERS_SV[number] if 0 <= number < len(_NUMBERS_SV) else str(number)


def ordningstal(number: int) -> str:
    """An ordinal: 1 → "första", 3 → "tredje", 21 → "21:a", 25 → "25:e"."""
    if 0 <= number < len(_ORDINALS_SV):
        return _ORDINALS_SV[number]
    ending = "a" if number % 10 in (1, 2) and number % 100 not in (11, 12) else "e"
    return f"{number}:{ending}"


def procent(share: float) -> str:
    """A share (0..1) as a percentage with a decimal comma: 0.9 → "90", 0.875 → "87,5"."""
    value = round(share * 100, 1)
    return str(int(value)) if value == int(value) else f"{value:.1f}".replace(".", ",")


def paragraf(value: str) -> str:
    """The minutes paragraph as the seeds write it: "12" → "§ 12"."""
    value = " ".join(value.split())
    return value if value.startswith("§") else f"§ {value}"


def kronor(amount: int) -> str:
    """An amount in whole kronor as Swedish writes it: 50000 → "50 000 kronor" (the groups
    joined by no-break spaces, so the number never splits over two lines)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Inget belopp i hela kronor: {amount!r}")
    grouped = f"{abs(amount):,}".replace(",", "\u00a0")
    return f"{'-' if amount < 0 else ''}{grouped}\u00a0kronor"


def decimaltal(value: float | int | None) -> str:
    """A score or a mean as Swedish writes it, with a decimal comma: 4.0 → "4,0", 3.5 → "3,5",
    a whole count as it is (4 → "4"), and none yet as a dash."""
    if value is None:
        return "–"
    return f"{value:.1f}".replace(".", ",") if isinstance(value, float) else str(value)


def filesize(size: int) -> str:
    """A file's size as a page shows it: "512 byte", "12 kB", "1,5 MB"."""
    if size < 1024:
        return f"{size} byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


# The filters the letters and documents use, under the names their templates call them by.
# (Pages register the lenient forms under `datum` and `klass`: see the module docstring.)
FILTERS: Mapping[str, Callable[..., str]] = {
    "datum": datum,
    "manad": manad,
    "isodatum": isodatum,
    "tid": tid,
    "klass": klass,
    "lista": lista,
    "versal": versal,
    "antal": antal,
    "ordningstal": ordningstal,
    "kronor": kronor,
    "decimaltal": decimaltal,
}
