"""The setup pages' routers, one room each: cycles, organisations, units (and their CSV
import), users, and registering an entry (the "notify" step)."""

from __future__ import annotations

from fastapi import APIRouter

from workflow.entrypoints.web import (
    setup_cycles,
    setup_import,
    setup_organisations,
    setup_registration,
    setup_units,
    setup_users,
)

# The import before the units: /admin/units/import is not a unit's id.
ROUTERS: tuple[APIRouter, ...] = (
    setup_cycles.router,
    setup_organisations.router,
    setup_import.router,
    setup_units.router,
    setup_users.router,
    setup_registration.router,
)
