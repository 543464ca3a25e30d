"""JupyterLab (which also serves Notebook 7 at ``/notebooks/PATH`` when the ``notebook``
package is installed) and Voila servers for the browser tests, each in its own process session.

Both are started with the interpreter that runs the tests (``sys.executable -m jupyterlab``,
``-m voila``) and a throw-away Jupyter environment (config, data, runtime, settings, workspaces)
under a temp dir, so nothing from ``~/.jupyter`` leaks in and nothing is left behind. The
``python3`` kernelspec written there points at ``sys.executable``, and ``PYTHONPATH`` starts with
this checkout, so a notebook's kernel imports the same ``xai_widgets`` as the tests. Ports are
chosen by binding port 0 and passed with ``port_retries=0``: a port taken in between makes the
start fail loudly (and it is retried on a new port) instead of moving the server where the
health check cannot see it.

Each runs in its own process session and is stopped through its process group (see
``process.py``); its log file stays in the temp dir (the fixtures copy it to test-artifacts).

Example::

    server = start_jupyterlab(tmp_path / "lab")
    try:
        name = server.add_notebook(Path("demo.ipynb"))
        print(server.notebook_url(name))
    finally:
        server.stop()
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .process import ServerProcess, http_ok, launch, start_with_retries, tcp_ok

STARTUP_TIMEOUT_S = 120.0
REPO = Path(__file__).resolve().parents[2]

LAB_CONFIG = """\
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
"""
NOTIFICATION_SETTINGS = '{"fetchNews": "false", "checkForUpdates": false}\n'
# Every cell attached to the page, also out of view: a test reads every output's canvases.
NOTEBOOK_SETTINGS = '{"windowingMode": "none"}\n'


def jupyter_env(base: Path) -> dict[str, str]:
    """Environment with every Jupyter dir under ``base`` and a ``python3`` kernel = this Python."""
    dirs = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": base / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": base / "workspaces",
        "IPYTHONDIR": base / "ipython",
        "TMPDIR": base / "tmp",  # Voila keeps its kernels' connection files there
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_lab_config.py").write_text(LAB_CONFIG)
    # No "Would you like to get notified about official Jupyter news?" toast over the page.
    notes = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "notification.jupyterlab-settings").write_text(NOTIFICATION_SETTINGS)
    tracker = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(NOTEBOOK_SETTINGS)
    spec_dir = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env["JUPYTER_PREFER_ENV_PATH"] = "0"  # a venv would otherwise put its own kernelspec first
    env["PYTHONUNBUFFERED"] = "1"
    # kernels import the checkout under test, whatever the venv's editable install points at
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


@dataclass
class JupyterLabServer(ServerProcess):
    """A running ``jupyter lab`` with its token and root dir (see :func:`start_jupyterlab`)."""

    token: str = ""
    root_dir: Path = field(default_factory=Path)

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (no leading slash) with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path}{sep}token={self.token}"

    def notebook_url(self, name: str, workspace: str | None = None) -> str:
        """URL that opens notebook ``name`` (relative to the root) in JupyterLab.

        With ``workspace``, in that named workspace: a fresh name opens only this notebook
        (the default workspace would also restore every notebook an earlier test opened).
        """
        where = f"lab/workspaces/{workspace}/tree" if workspace else "lab/tree"
        return self.url(f"{where}/{name}")

    def add_notebook(self, src: Path, name: str | None = None) -> str:
        """Copy notebook ``src`` into the server root; return its path relative to the root."""
        dest = self.root_dir / (name or src.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest.relative_to(self.root_dir).as_posix()

    def api(self, path: str, method: str = "GET") -> object:
        """Call the REST API (``api/...``), return the decoded JSON (None for an empty body)."""
        req = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def read_notebook(self, name: str) -> dict:
        """The notebook as saved on disk, read through the contents API."""
        model = self.api(f"contents/{name}?content=1")
        assert isinstance(model, dict)
        return model["content"]

    def shutdown_sessions(self, path: str | None = None) -> None:
        """Shut down the kernel sessions (of notebook ``path`` only, when given)."""
        sessions = self.api("sessions")
        assert isinstance(sessions, list)
        for session in sessions:
            if path is None or session.get("path") == path:
                self.api(f"sessions/{session['id']}", method="DELETE")


def start_jupyterlab(
    base: Path, timeout: float = STARTUP_TIMEOUT_S, app: str = "jupyterlab"
) -> JupyterLabServer:
    """Start JupyterLab on 127.0.0.1 with a token, root ``base/root``, everything else in ``base``.

    Healthy when ``/api/status?token=`` answers 200. The log is ``base/<app>.log``. With
    ``app="notebook"`` the same server runs as Notebook 7 (``jupyter notebook``: its own page
    and plugins, notebooks at ``/notebooks/PATH``).
    """
    base.mkdir(parents=True, exist_ok=True)
    root = base / "root"
    root.mkdir(exist_ok=True)
    env = jupyter_env(base / "jupyter")
    token = secrets.token_hex(16)
    log_path = base / f"{app}.log"

    def make(port: int) -> JupyterLabServer:
        cmd = [
            sys.executable, "-m", app, "--no-browser",
            f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]  # fmt: skip
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        proc = launch(cmd, env=env, cwd=root, log_path=log_path)
        return JupyterLabServer(proc, port, log_path, token=token, root_dir=root)

    def healthy(server: ServerProcess) -> bool:
        assert isinstance(server, JupyterLabServer)
        return http_ok(server.url("api/status"))

    server = start_with_retries(make, healthy, timeout)
    assert isinstance(server, JupyterLabServer)
    return server


@dataclass
class VoilaServer(ServerProcess):
    """A running ``voila NOTEBOOK``; ``app_url`` renders the notebook (a kernel per load)."""

    token: str = ""

    @property
    def app_url(self) -> str:
        return f"{self.base_url}/?token={self.token}"


def start_voila(notebook: Path, base: Path, timeout: float = STARTUP_TIMEOUT_S) -> VoilaServer:
    """Serve ``notebook`` with Voila on 127.0.0.1 (token, throw-away Jupyter dirs under ``base``).

    Healthy when its port accepts a TCP connection (Voila runs nothing before a page loads).
    The log is ``base/voila.log``.
    """
    base.mkdir(parents=True, exist_ok=True)
    env = jupyter_env(base / "jupyter")
    token = secrets.token_hex(16)
    log_path = base / "voila.log"
    root = notebook.parent

    def make(port: int) -> VoilaServer:
        cmd = [
            sys.executable, "-m", "voila", str(notebook), "--no-browser",
            f"--port={port}", "--Voila.port_retries=0", "--Voila.ip=127.0.0.1",
            f"--Voila.root_dir={root}", f"--Voila.token={token}",
            "--VoilaConfiguration.show_tracebacks=True",
            # Notebook 7's lab extension is for Notebook's own shell; Voila 0.5 loads it anyway and
            # logs "The getter for the shared module is not a function" (voila#1514)
            "--VoilaConfiguration.extension_denylist=['@jupyter-notebook/lab-extension']",
        ]  # fmt: skip
        proc = launch(cmd, env=env, cwd=root, log_path=log_path)
        return VoilaServer(proc, port, log_path, token=token)

    server = start_with_retries(make, lambda s: tcp_ok(s.port), timeout)
    assert isinstance(server, VoilaServer)
    return server
