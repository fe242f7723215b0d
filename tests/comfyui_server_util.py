"""Run a real ComfyUI server with this pack, on loopback, for integration tests and manual checks.

The server gets its own folders under one temporary root: custom_nodes/ (a link to this
repository), models/ (stylegan, facespace), input/, output/, temp/ and user/, so nothing is
written into the ComfyUI checkout. Run as a script to keep a server up for a browser:

    python tests/comfyui_server_util.py ROOT PORT     (COMFYUI_DIR and COMFYUI_PYTHON set)
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_LINK_NAME = "comfyui-facespace"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def comfyui_from_env() -> tuple[Path, Path] | str:
    """(ComfyUI folder, its Python) from COMFYUI_DIR / COMFYUI_PYTHON, or the reason they cannot be used."""
    folder, python = os.environ.get("COMFYUI_DIR"), os.environ.get("COMFYUI_PYTHON")
    if not folder or not python:
        return "set COMFYUI_DIR (a ComfyUI checkout) and COMFYUI_PYTHON (a Python with its requirements) to run"
    if not (Path(folder) / "main.py").is_file():
        return f"COMFYUI_DIR={folder} holds no main.py"
    if not Path(python).is_file():
        return f"COMFYUI_PYTHON={python} does not exist"
    return Path(folder), Path(python)


def prepare_root(root: Path) -> dict[str, Path]:
    """Folders the server uses, with the pack linked in and the model folders named in a YAML."""
    paths = {name: root / name for name in ("custom_nodes", "models", "input", "output", "temp", "user")}
    for p in paths.values():
        p.mkdir(parents=True, exist_ok=True)
    for kind in ("stylegan", "facespace", "stylegan_latents"):
        (paths["models"] / kind).mkdir(exist_ok=True)
    link = paths["custom_nodes"] / PACK_LINK_NAME
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    config = root / "extra_model_paths.yaml"
    config.write_text(
        "facespace_test:\n"
        f"  base_path: {paths['models']}\n"
        f"  custom_nodes: {paths['custom_nodes']}\n"
        "  stylegan: stylegan\n"
        "  facespace: facespace\n"
        "  facespace_latents: stylegan_latents\n"
    )
    paths["config"] = config
    return paths


class ComfyServer:
    """A ComfyUI process on 127.0.0.1; use as a context manager (the process is always killed)."""

    def __init__(self, comfyui_dir: Path, python: Path, root: Path, port: int | None = None):
        self.comfyui_dir, self.python, self.root = Path(comfyui_dir), Path(python), Path(root)
        self.port = port or int(os.environ.get("COMFYUI_PORT") or 0) or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.paths = prepare_root(self.root)
        self.log_path = self.root / "server.log"
        self.process: subprocess.Popen | None = None
        self.client_id = uuid.uuid4().hex

    def start(self, timeout: float = 240) -> "ComfyServer":
        cmd = [str(self.python), str(self.comfyui_dir / "main.py"), "--cpu", "--listen", HOST, "--port", str(self.port),
               "--extra-model-paths-config", str(self.paths["config"]),
               "--input-directory", str(self.paths["input"]), "--output-directory", str(self.paths["output"]),
               "--temp-directory", str(self.paths["temp"]), "--user-directory", str(self.paths["user"]),
               "--disable-auto-launch", "--disable-metadata"]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(cmd, cwd=self.comfyui_dir, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.get_json("/system_stats", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------ HTTP

    def request(self, path: str, data: dict | None = None, timeout: float = 30):
        body = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(self.url + path, data=body,
                                     headers={"Content-Type": "application/json"} if body else {})
        return urllib.request.urlopen(req, timeout=timeout)

    def get_json(self, path: str, timeout: float = 30):
        with self.request(path, timeout=timeout) as r:
            return json.loads(r.read())

    def get_bytes(self, path: str, timeout: float = 30) -> bytes:
        with self.request(path, timeout=timeout) as r:
            return r.read()

    def queue(self, prompt: dict) -> str:
        """POST a prompt; on refusal raise with the server's node errors."""
        try:
            with self.request("/prompt", {"prompt": prompt, "client_id": self.client_id}) as r:
                return json.loads(r.read())["prompt_id"]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"/prompt refused the prompt: {exc.read().decode(errors='replace')}") from None

    def wait(self, prompt_id: str, timeout: float = 300) -> dict:
        """The /history entry of a prompt once it has finished (successfully or not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            history = self.get_json(f"/history/{prompt_id}")
            entry = history.get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log_tail()}")

    def run(self, prompt: dict, timeout: float = 300) -> dict:
        entry = self.wait(self.queue(prompt), timeout)
        if entry["status"]["status_str"] != "success":
            messages = [m for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
            raise AssertionError(f"prompt failed: {json.dumps(messages, indent=1)[:4000]}\n{self.log_tail(3000)}")
        return entry

    def view(self, image: dict) -> bytes:
        query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
        return self.get_bytes(f"/view?{query}")


if __name__ == "__main__":  # keep a server up (e.g. for a browser) until interrupted
    found = comfyui_from_env()
    if isinstance(found, str):
        sys.exit(found)
    server = ComfyServer(*found, Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    for sig in (signal.SIGTERM, signal.SIGINT):  # stop ComfyUI too when this script is stopped
        signal.signal(sig, lambda *_: sys.exit(0))
    with server:
        print(f"ComfyUI with FaceSpace at {server.url} (log {server.log_path})", flush=True)
        server.process.wait()
