"""The API's refusals in Swedish: what the framework and pydantic would say in English,
said the way every other refusal here is, each with a stable code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# HTTP statuses the framework answers by itself (an unknown path, a wrong method …).
HTTP_STATUS_REASONS: Mapping[int, tuple[str, str]] = {
    400: ("bad_request", "Begäran kunde inte läsas."),
    401: ("unauthenticated", "Ogiltig eller saknad token."),
    403: ("forbidden", "Din roll får inte göra detta."),
    404: ("not_found", "Adressen finns inte."),
    405: ("method_not_allowed", "Metoden går inte att använda på den här adressen."),
    406: ("not_acceptable", "Svaret kan inte ges i det format som efterfrågas."),
    413: ("too_large", "Innehållet är för stort."),
    415: ("unsupported_media_type", "Innehållets format stöds inte; skicka JSON."),
    429: ("too_many_requests", "För många förfrågningar; vänta en stund och försök igen."),
}

# pydantic's error types, in the words of a Swedish form ({…} from the error's context).
_FIELD_MESSAGES: Mapping[str, str] = {
    "missing": "saknas",
    "json_invalid": "är ingen giltig JSON",
    "model_attributes_type": "måste vara ett JSON-objekt",
    "dict_type": "måste vara ett JSON-objekt",
    "list_type": "måste vara en lista",
    "int_parsing": "måste vara ett heltal",
    "int_type": "måste vara ett heltal",
    "int_from_float": "måste vara ett heltal",
    "float_parsing": "måste vara ett tal",
    "float_type": "måste vara ett tal",
    "bool_parsing": "måste vara true eller false",
    "bool_type": "måste vara true eller false",
    "string_type": "måste vara text",
    "date_parsing": "måste vara ett datum (ÅÅÅÅ-MM-DD)",
    "date_from_datetime_parsing": "måste vara ett datum (ÅÅÅÅ-MM-DD)",
    "date_type": "måste vara ett datum (ÅÅÅÅ-MM-DD)",
    "time_parsing": "måste vara en tid (TT:MM)",
    "time_type": "måste vara en tid (TT:MM)",
    "datetime_parsing": "måste vara en tidpunkt (ÅÅÅÅ-MM-DDTTT:MM)",
    "string_too_short": "måste ha minst {min_length} tecken",
    "string_too_long": "får ha högst {max_length} tecken",
    "too_short": "måste ha minst {min_length} delar",
    "too_long": "får ha högst {max_length} delar",
    "greater_than": "måste vara större än {gt}",
    "greater_than_equal": "måste vara minst {ge}",
    "less_than": "måste vara mindre än {lt}",
    "less_than_equal": "får vara högst {le}",
    "literal_error": "måste vara något av {expected}",
    "enum": "måste vara något av {expected}",
    "extra_forbidden": "är ingen känd uppgift",
    "value_error": "har ett ogiltigt värde",
    "string_pattern_mismatch": "har fel form",
    "url_parsing": "måste vara en adress (http:// eller https://)",
}


def field_message(error: Mapping[str, Any]) -> str:
    """'year: måste vara ett heltal' for one of pydantic's errors."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "innehållet"
    template = _FIELD_MESSAGES.get(str(error.get("type")), "har ett ogiltigt värde")
    context = dict(error.get("ctx") or {})
    try:
        said = template.format(**context)
    except (KeyError, IndexError):
        said = "har ett ogiltigt värde"
    return f"{where}: {said.replace(' or ', ' eller ')}"
