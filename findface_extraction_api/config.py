"""/etc/findface-extraction-api.ini -> one immutable Settings object, or one clear error line.

The file is configobj `key = value` with `[section]`s, validated against config.spec. FindFace
documents the same keys in YAML style (`key: value`); such a file gets a message that shows the
`key = value` form instead of a parse error.
"""

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import validate
from configobj import ConfigObj, ConfigObjError, flatten_errors, get_extra_values

DEFAULT_PATH = "/etc/findface-extraction-api.ini"
SPEC_PATH = os.path.join(os.path.dirname(__file__), "config.spec")


class ConfigError(Exception):
    """An unusable configuration; str() is the one line to show the operator."""


@dataclass(frozen=True)
class Settings:
    listen_host: str
    listen_port: int
    license_ntls_server: str
    max_dimension: int
    model_instances: int
    quality_estimator: bool
    models_root: str
    fetch_enabled: bool
    fetch_size_limit: int
    fetch_allow_private_addresses: bool
    fetch_allowed_networks: tuple
    fetch_connect_timeout: float
    fetch_timeout: float
    min_face_size: float
    max_face_size: float
    liveness_threshold: float = 0.5  # [liveness] threshold: P(real) at or above it is REAL
    age_model: str = "cydral"  # [age] model: cydral, or cydral+faceres (opt-in; IMDB-WIKI terms)
    emotions_model: str = "mini-xception"  # [emotions] model: mini-xception, or ensemble (opt-in; two averaged)
    facen_model: str = "sface"  # [facen] model: sface, sface+dlib (with dlib's ResNet), mobilefacenet (opt-in)
    facen_precision: str = "auto"  # [facen] precision: auto (bfloat16 where the CPU has it), float32, bfloat16
    attribute_precision: str = "auto"  # [attributes] precision: the same choice for age, gender, emotions
    fetch_max_concurrent: int = 64
    fetch_max_queued: int = 256
    max_pixels: int = 36_000_000  # [limits]: see etc/findface-extraction-api.ini
    envelope_pixels: int = 200_000_000
    max_objects: int = 100
    max_faces: int = 100
    envelope_normalized: int = 64 * 1024 * 1024
    max_body_size: int = 100 * 1024 * 1024
    buffered_bodies: int = 256 * 1024 * 1024
    header_timeout: float = 30.0
    body_timeout: float = 60.0
    send_timeout: float = 60.0
    allow_cors: tuple[str, ...] = ()  # origins allowed to call from a browser; ("*",) = any
    log_level: str = "info"
    access_log: bool = True
    metrics_enabled: bool = True
    metrics_listen: tuple[str, int] | None = None  # None: on the API's own port
    demo: str = "auto"  # [demo] enabled: true, false, or auto (on when listening on loopback only)

    @property
    def demo_enabled(self) -> bool:
        if self.demo == "auto":
            return self.listen_host in ("localhost", "::1") or self.listen_host.startswith("127.")
        return self.demo == "true"

    def effective(self) -> str:
        """The settings in the file's own form (`key = value`, [sections]), for --check-config and the log."""
        lines = [f"listen = {_show_address((self.listen_host, self.listen_port))}", f"models_root = {self.models_root}"]
        current = ""
        for field, (section, key) in KEYS.items():
            if section != current:
                lines.append(f"[{section}]")
                current = section
            value = getattr(self, field)
            lines.append(f"{key} = {'false' if field == 'allow_cors' and not value else _show(value)}")
        return "\n".join(lines)

    def changed(self, other: "Settings") -> list[str]:
        """The file keys (`section.key`) whose values differ between two Settings."""
        names = {"listen_host": "listen", "listen_port": "listen", "models_root": "models_root"}
        names.update({field: ".".join(filter(None, place)) for field, place in KEYS.items()})
        return sorted({names[f] for f in vars(self) if getattr(self, f) != getattr(other, f)})


# Settings field -> (section, key) in the file ("" is the top level), in the file's order.
KEYS = {
    "license_ntls_server": ("", "license_ntls_server"),
    "max_dimension": ("", "max_dimension"),
    "model_instances": ("", "model_instances"),
    "quality_estimator": ("", "quality_estimator"),
    "allow_cors": ("", "allow_cors"),
    "fetch_enabled": ("fetch", "enabled"),
    "fetch_size_limit": ("fetch", "size_limit"),
    "fetch_allow_private_addresses": ("fetch", "allow_private_addresses"),
    "fetch_allowed_networks": ("fetch", "allowed_networks"),
    "fetch_connect_timeout": ("fetch", "connect_timeout"),
    "fetch_timeout": ("fetch", "timeout"),
    "fetch_max_concurrent": ("fetch", "max_concurrent"),
    "fetch_max_queued": ("fetch", "max_queued"),
    "min_face_size": ("nnd", "min_face_size"),
    "max_face_size": ("nnd", "max_face_size"),
    "facen_model": ("facen", "model"),
    "facen_precision": ("facen", "precision"),
    "attribute_precision": ("attributes", "precision"),
    "liveness_threshold": ("liveness", "threshold"),
    "age_model": ("age", "model"),
    "emotions_model": ("emotions", "model"),
    "max_pixels": ("limits", "max_pixels"),
    "envelope_pixels": ("limits", "envelope_pixels"),
    "max_objects": ("limits", "max_objects"),
    "max_faces": ("limits", "max_faces"),
    "envelope_normalized": ("limits", "envelope_normalized"),
    "max_body_size": ("limits", "max_body_size"),
    "buffered_bodies": ("limits", "buffered_bodies"),
    "header_timeout": ("limits", "header_timeout"),
    "body_timeout": ("limits", "body_timeout"),
    "send_timeout": ("limits", "send_timeout"),
    "log_level": ("log", "level"),
    "access_log": ("log", "access_log"),
    "metrics_enabled": ("metrics", "enabled"),
    "metrics_listen": ("metrics", "listen"),
    "demo": ("demo", "enabled"),
}


def _show_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int):
        return _show_address(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _face_size(value: Any) -> float:
    """A face size in pixels; `inf` and YAML's `.inf` mean unbounded."""
    text = str(value).strip().lower()
    if text in ("inf", ".inf", "+inf", "+.inf", "infinity"):
        return math.inf
    try:
        number = float(text)
    except ValueError:
        raise validate.VdtTypeError(value) from None
    if not number > 0:
        raise validate.VdtValueTooSmallError(value)
    return number


def _address(value: Any) -> tuple[str, int]:
    """`host:port`, `:port` (all interfaces) or `[v6]:port`."""
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):(\d{1,5})", str(value).strip())
    if not match or not 0 < int(match.group(2)) < 65536:
        raise validate.ValidateError(f"'{value}' is not host:port")
    return match.group(1).strip("[]"), int(match.group(2))


def _optional_address(value: Any) -> tuple[str, int] | None:
    """Empty for none, else `host:port`."""
    return _address(value) if str(value).strip() else None


def _cors(value: Any) -> tuple[str, ...]:
    """FindFace's `allow_cors`: false (none), true (any origin), or comma-separated origins."""
    text = str(value).strip()
    if text.lower() in ("", "false", "no", "off", "0"):
        return ()
    if text.lower() in ("true", "yes", "on", "1", "*"):
        return ("*",)
    origins = tuple(item.strip().rstrip("/") for item in text.split(",") if item.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?", origin):
            raise validate.ValidateError(f"'{origin}' is not an origin like https://example.com:8443")
    return origins


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated CIDRs, e.g. `10.20.0.0/16, 192.168.5.7/32`."""
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in str(value).split(",") if item.strip())
    except ValueError as e:
        raise validate.ValidateError(f"'{value}' is not a list of networks ({e})") from None


def load(path: str = DEFAULT_PATH, overrides: dict[str, Any] | None = None) -> Settings:
    """Read, validate and freeze the configuration at `path` (plus `overrides`, e.g. from the CLI)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{e.object[e.start]:02x}); save the file as UTF-8"
        ) from None
    try:
        config = ConfigObj(
            lines, configspec=SPEC_PATH, file_error=True, raise_errors=True, list_values=False, interpolation=False
        )
    except ConfigObjError as e:
        raise ConfigError(_parse_error(path, lines, e)) from None
    _unquote(config)
    _check_sections(path, config, config.configspec)
    for key, value in (overrides or {}).items():
        config[key] = value
    validator = validate.Validator(
        {
            "face_size": _face_size,
            "address": _address,
            "optional_address": _optional_address,
            "networks": _networks,
            "cors": _cors,
        }
    )
    result = config.validate(validator, preserve_errors=True)
    if result is not True:
        for sections, key, error in flatten_errors(config, result):
            spec = config.configspec
            for section in sections:
                spec = spec[section]
            expected = _describe_check(str(spec.get(key, "")))
            where = ".".join([*sections, key or ""]).strip(".")
            raise ConfigError(f"{path}: key '{where}': {str(error).rstrip('.')}; expected {expected}")
    extra = get_extra_values(config)
    if extra:
        sections, name = extra[0]
        spec = config.configspec
        for section in sections:
            spec = spec[section]
        known = sorted(spec.scalars + [f"[{section}]" for section in spec.sections])
        where = ".".join([*sections, name])
        raise ConfigError(f"{path}: unknown key '{where}' (known here: {', '.join(known)})")
    host, port = config["listen"]
    values = {field: (config[section] if section else config)[key] for field, (section, key) in KEYS.items()}
    for field, value in values.items():
        if isinstance(value, float) and math.isnan(value):  # passes validate's min/max: NaN compares false
            where = ".".join(filter(None, KEYS[field]))
            raise ConfigError(f"{path}: key '{where}': nan is not a number; expected a number")
    return Settings(
        listen_host=host,
        listen_port=port,
        models_root=os.path.join(os.path.dirname(os.path.abspath(path)), config["models_root"]),
        **values,
    )


_CHECK_WORDS = {
    "integer": "an integer",
    "float": "a number",
    "boolean": "true or false",
    "string": "text",
    "address": "host:port",
    "face_size": "a size in pixels or inf",
    "networks": "comma-separated networks like 10.0.0.0/8",
    "optional_address": "host:port or nothing",
    "cors": "false, true or comma-separated origins like https://example.com",
    "option": "one of the listed values",
}


def _check_sections(path: str, section: Any, spec: Any, where: tuple[str, ...] = ()) -> None:
    """ConfigError for a [section] where the spec has a key (configobj's validate fails on it with
    AttributeError: a traceback at start, and a SIGHUP that never finished reloading)."""
    for key in spec.scalars:
        if isinstance(section.get(key), dict):
            name = ".".join((*where, key))
            raise ConfigError(f"{path}: '{name}' is a key, not a section: write `{key} = value`, not [{key}]")
    for key in spec.sections:
        if isinstance(section.get(key), dict):
            _check_sections(path, section[key], spec[key], (*where, key))


def _unquote(section: Any) -> None:
    """Strip one pair of matching quotes around a value (`allowed_networks = ""`, as configobj itself
    writes an empty value): with list_values off, configobj would keep them as part of the text."""
    for key, value in section.items():
        if isinstance(value, dict):
            _unquote(value)
        elif isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            section[key] = value[1:-1]


def _describe_check(check: str) -> str:
    """'integer(min=1, default=6000)' -> 'an integer >= 1'."""
    name = check.split("(")[0]
    minimum = re.search(r"min=([^,)]+)", check)
    return _CHECK_WORDS.get(name, name) + (f" >= {minimum.group(1)}" if minimum else "")


def _parse_error(path: str, lines: list[str], error: Exception) -> str:
    """One line for a configobj parse error; YAML-style lines get the `key = value` form."""
    number = getattr(error, "line_number", None)
    line = lines[number - 1] if number and number <= len(lines) else ""
    yaml = re.fullmatch(r"(\s*)([A-Za-z_][\w.]*)\s*:\s*(.*?)\s*", line)
    if yaml:
        indent, key, value = yaml.groups()
        suggestion = f"[{key}]" if value == "" else f"{key} = {value}"
        return (
            f"{path}: line {number}: '{line.strip()}' is YAML style (FindFace's docs); this file "
            f"uses 'key = value' lines and [sections]: write '{suggestion}'"
        )
    return f"{path}: line {number}: cannot parse '{line.strip()}' ({error.msg if hasattr(error, 'msg') else error})"
