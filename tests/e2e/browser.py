"""A real browser for the web tests: Debian's chromium driven by Playwright, and axe-core.

Playwright cannot download its own browser here, so the test setup installs Debian's
`chromium` package with apt (when /usr/bin/chromium is missing; needs root, as in CI) and
hands Playwright its path. axe-core comes from npm into `.cache/axe` (git-ignored), at the
version pinned here, and is injected into each page it checks; the context bypasses the pages'
CSP for that injection. pytest-xdist's workers take turns at both installs (a file lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.conftest import service_unavailable
from tests.e2e.support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_VERSION = "4.14.1"  # pinned like requirements.lock: the rules CI ran are the rules you run
AXE_DIR = ROOT / ".cache" / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
INSTALL_LOCK = ROOT / ".cache" / "install.lock"
BLOCKING_IMPACTS = ("serious", "critical")
PHONE: ViewportSize = {"width": 390, "height": 844}


@contextmanager
def installing() -> Iterator[None]:
    """One install at a time across pytest-xdist's worker processes."""
    INSTALL_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_chromium() -> str:
    """The path of Debian's chromium, installing the package with apt if it is missing."""
    with installing():
        if not CHROMIUM.exists():
            install_chromium()
    return str(CHROMIUM)


def install_chromium() -> None:
    try:
        subprocess.run(
            ["sh", "-c", "apt-get update && apt-get install -y chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=True,
            capture_output=True,
            timeout=1800,
        )
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        service_unavailable(
            f"chromium could not be installed with apt: {error} {detail.decode()[-500:]}"
        )
    if not CHROMIUM.exists():
        service_unavailable("apt installed chromium, but /usr/bin/chromium is missing")


def installed_axe_version() -> str | None:
    manifest = AXE_JS.parent / "package.json"
    if not AXE_JS.exists() or not manifest.exists():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8")).get("version"))


def ensure_axe() -> str:
    """axe-core's source, installed from npm into .cache/axe on first use."""
    with installing():
        if installed_axe_version() != AXE_VERSION:
            install_axe()
    return AXE_JS.read_text(encoding="utf-8")


def install_axe() -> None:
    npm = shutil.which("npm")
    if npm is None:
        service_unavailable("npm is missing, so axe-core cannot be installed")
        raise AssertionError("unreachable: service_unavailable skips or fails")
    package = f"axe-core@{AXE_VERSION}"
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", package],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as error:
        service_unavailable(f"axe-core could not be installed from npm: {error}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    return ensure_axe()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, in Swedish and Stockholm time."""
    context = browser.new_context(
        locale="sv-SE",
        timezone_id="Europe/Stockholm",
        bypass_csp=True,  # lets axe-core be injected into pages whose CSP forbids scripts
        viewport={"width": 1280, "height": 900},
    )
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']} – {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in violations
    )
