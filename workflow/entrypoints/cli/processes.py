"""The long-running processes: the Celery worker (supervised), the web server, and `serve`,
which runs both together for a laptop or a demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from workflow import db
from workflow.demo import DemoLogin, ensure_demo_logins, load_demo
from workflow.entrypoints.cli.work import now, run
from workflow.settings import get_settings
from workflow.supervise import die_with_parent

WORKER_STOP_SECONDS = 30


def worker(
    concurrency: Annotated[int, typer.Option(help="Antal arbetsprocesser.")] = 2,
    beat: Annotated[
        bool, typer.Option("--beat/--no-beat", help="Kör schemaläggaren i samma process.")
    ] = True,
    loglevel: Annotated[str, typer.Option(help="Loggnivå.")] = "INFO",
    name: Annotated[
        str | None,
        typer.Option(help="Arbetarens namn, t.ex. w1@%h (flera arbetare på samma dator)."),
    ] = None,
    schedule: Annotated[
        Path | None,
        typer.Option(help="Schemaläggarens tillståndsfil (standard: i datakatalogen)."),
    ] = None,
) -> None:
    """Kör en Celery-arbetare med schemaläggare (påminnelser och e-post).

    Arbetaren övervakas: avslutas den av sig själv (t.ex. när Redis startas om) startas den
    igen. SIGTERM och Ctrl-C avslutar den efter pågående uppgifter.
    """
    from tasks.broker import broker_url
    from workflow import logs
    from workflow.supervise import Supervisor

    settings = get_settings()
    db.upgrade_schema()
    logs.configure()  # the supervisor's own lines, as JSON where the workers' are
    broker = broker_url(settings)  # the embedded broker lives as long as this process
    argv = [sys.executable, "-m", "celery", "-A", "tasks.app", "worker"]
    argv += ["--concurrency", str(concurrency), "--loglevel", loglevel]
    # Neither revokes nor worker gossip are used; mingle would cost a second at each start.
    argv += ["--without-gossip", "--without-mingle"]
    if name:
        argv += ["-n", name]
    if beat:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule or settings.data_dir / "celerybeat-schedule")]
    supervisor = Supervisor(argv, env={**os.environ, "CELERY_BROKER_URL": broker})
    supervisor.stop_on_signals()
    raise typer.Exit(supervisor.run())


def web(
    host: Annotated[str, typer.Option(help="Adress att lyssna på.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Antal webbprocesser.", min=1)] = 1,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Lita på X-Forwarded-* från en omvänd proxy.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Loggnivå.")] = "info",
) -> None:
    """Kör bara webben och API:t (produktion: flera processer, bakom en proxy)."""
    from workflow.entrypoints.http import webserver

    webserver.run(
        host=host, port=port, workers=workers, proxy_headers=proxy_headers, log_level=log_level
    )


def serve(
    host: Annotated[str, typer.Option(help="Adress att lyssna på.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Läs in exempelärendena och skapa en inloggning per roll."),
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Arbetsprocesser för e-post.")] = 2,
) -> None:
    """Kör webb, arbetare och schemaläggare tillsammans; Ctrl-C stoppar alla."""
    import uvicorn

    from tasks.broker import broker_url, stop_embedded_broker
    from workflow.entrypoints.http.app import create_app

    db.upgrade_schema()
    if demo:
        run(lambda session: load_demo(session, now=now()))
        for line in demo_login_lines(run(lambda session: ensure_demo_logins(session, now=now()))):
            typer.echo(line)
    # The web app in this process and the worker in its child read the same environment;
    # settings are then built afresh from it, never changed in place.
    os.environ.update(serve_environment(broker_url(get_settings()), host, port, os.environ))
    get_settings.cache_clear()
    get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    # uvicorn stops gracefully on SIGTERM, then raises it again with our handler back in
    # place: without one the default handler ended the process before `finally` below could
    # stop the worker and the embedded Redis. Ours makes SIGTERM end like Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    worker_process = _start_worker(concurrency)
    typer.echo(f"Kvalitetsutmärkelsen körs på http://{host}:{port}/ (Ctrl-C avslutar)")
    try:
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")
    finally:
        _stop(worker_process)
        stop_embedded_broker()
        typer.echo("Stoppad.")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def serve_environment(
    broker: str, host: str, port: int, environ: Mapping[str, str]
) -> dict[str, str]:
    """What `serve` adds to the environment: the broker the web process nudges and the worker
    listens on, and, unless PUBLIC_URL says otherwise, this server's own address (so a
    webhook cannot point back at this very server)."""
    added = {"CELERY_BROKER_URL": broker}
    if "PUBLIC_URL" not in environ:
        added["PUBLIC_URL"] = f"http://{host}:{port}"
    return added


def demo_login_lines(logins: list[DemoLogin]) -> list[str]:
    lines = [
        f"  {login.name:<11} ({login.role}) finns redan"
        if login.password is None
        else f"  {login.name:<11} lösenord {login.password}  ({login.role})"
        for login in logins
    ]
    return ["Inloggningar för demo:", *lines]


def _start_worker(concurrency: int) -> subprocess.Popen[bytes]:
    """`kvalitet worker` in a child, on this process's environment: it supervises Celery
    (restarts it if it dies)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflow.entrypoints.cli",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
        ],
        env={**os.environ},
        preexec_fn=die_with_parent,  # no worker outlives a killed `serve`
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
