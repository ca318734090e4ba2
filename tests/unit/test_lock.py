"""What is installed is what requirements.lock pins, and the lock agrees with pyproject.toml.

README's commands install with `pip install -c requirements.lock`, so a user gets what CI
tested. These tests fail, never skip, when the three disagree: a dependency added to
pyproject.toml without refreshing the lock (pip would install it unpinned), a bound the lock
does not meet, a pin left behind for a dependency that went, or an environment that drifted.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PROJECT = "kvalitet"
EXTRAS = ("test",)
REFRESH = "refresh the lock as README's 'Dependencies' says, then install from it again"


def locked_pins() -> dict[NormalizedName, tuple[Version, Marker | None]]:
    """The lock's `name==version ; marker` lines, by normalised name."""
    pins: dict[NormalizedName, tuple[Version, Marker | None]] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"the lock must pin exactly: {line!r}"
        pins[canonicalize_name(requirement.name)] = (Version(specifier.version), requirement.marker)
    return pins


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in EXTRAS:
        declared += project["optional-dependencies"][extra]
    return [Requirement(text) for text in declared]


def applies(marker: Marker | None, extras: tuple[str, ...] = ()) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in extras or ("",))


def installed_tree() -> dict[NormalizedName, str]:
    """Every distribution the project (with its extras) pulls in here, with its version."""
    found: dict[NormalizedName, str] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [(PROJECT, EXTRAS)]
    while pending:
        name, extras = pending.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if not applies(requirement.marker, extras):
                continue
            key = canonicalize_name(requirement.name)
            wanted = tuple(sorted(requirement.extras))
            if key in found and not wanted:
                continue
            found[key] = metadata.version(requirement.name)
            pending.append((requirement.name, wanted))
    return found


def test_every_declared_dependency_is_locked_within_its_bounds() -> None:
    pins = locked_pins()
    problems = []
    for requirement in declared_requirements():
        key = canonicalize_name(requirement.name)
        if key not in pins:
            problems.append(f"{requirement} is in pyproject.toml but not in requirements.lock")
        elif not requirement.specifier.contains(pins[key][0], prereleases=True):
            problems.append(f"{requirement} is not met by the lock's {key}=={pins[key][0]}")
    assert not problems, "\n".join([*problems, REFRESH])


def test_every_installed_dependency_is_the_locked_version() -> None:
    pins = locked_pins()
    problems = []
    for key, version in sorted(installed_tree().items()):
        if key not in pins:
            problems.append(f"{key} {version} is installed but not locked")
        elif Version(version) != pins[key][0]:
            problems.append(f"{key} {version} is installed, the lock says {pins[key][0]}")
    assert not problems, "\n".join([*problems, REFRESH])


def test_every_pin_that_applies_here_is_installed() -> None:
    """A pin nothing installs any more means the lock is stale (or the install was partial)."""
    tree = installed_tree()
    stale = [
        f"{key}=={version} is locked but not installed as a dependency"
        for key, (version, marker) in sorted(locked_pins().items())
        if applies(marker) and key not in tree
    ]
    assert not stale, "\n".join([*stale, REFRESH])
