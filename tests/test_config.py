"""The configuration file and the console entry point's start-up checks, run for real."""

import json
import math
import os
import re
import shutil
import subprocess
import sys

import configobj
import pytest

from findface_extraction_api import config
from findface_extraction_api.testing import BUNDLE, ROOT, cli, free_port, write_config

SHIPPED = os.path.join(ROOT, "etc", "findface-extraction-api.ini")


def load_text(tmp_path, text):
    path = tmp_path / "test.ini"
    path.write_text(text)
    return config.load(str(path))


def error_for(tmp_path, text):
    with pytest.raises(config.ConfigError) as e:
        load_text(tmp_path, text)
    return str(e.value)


def test_shipped_file_documents_every_key_with_its_default():
    settings = config.load(SHIPPED)
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 18666)
    assert settings.fetch_enabled and settings.fetch_size_limit == 10485760
    assert settings.min_face_size == 30 and math.isinf(settings.max_face_size)
    assert settings.model_instances == 0 and settings.max_dimension == 6000 and not settings.quality_estimator
    assert settings.models_root == "/usr/share/findface-data/models"
    assert (settings.age_model, settings.emotions_model) == ("cydral", "mini-xception")  # both ensembles opt-in
    spec = open(os.path.join(os.path.dirname(config.__file__), "config.spec")).read()
    shipped = open(SHIPPED).read()
    for line in spec.splitlines():
        if "=" in line and not line.startswith("#"):
            key = line.split("=")[0].strip()
            assert f"\n{key} =" in shipped, f"{key} is not documented in the shipped file"


def test_empty_file_gives_the_defaults(tmp_path):
    defaults = vars(load_text(tmp_path, ""))
    shipped = vars(config.load(SHIPPED))
    assert defaults.pop("license_ntls_server") == "" and shipped.pop("license_ntls_server") == "127.0.0.1:3133"
    assert defaults == shipped


@pytest.mark.parametrize("value", ["inf", ".inf", "INF", "+.inf"])
def test_max_face_size_accepts_inf_spellings(tmp_path, value):
    assert math.isinf(load_text(tmp_path, f"[nnd]\nmax_face_size = {value}\n").max_face_size)


@pytest.mark.parametrize("model", ["sface", "sface+dlib", "mobilefacenet"])
def test_facen_model(tmp_path, model):
    settings = load_text(tmp_path, f"[facen]\nmodel = {model}\n")
    assert settings.facen_model == model and f"[facen]\nmodel = {model}\n" in settings.effective()


def test_relative_models_root_is_relative_to_the_file(tmp_path):
    assert load_text(tmp_path, "models_root = models\n").models_root == str(tmp_path / "models")


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "max_dimension = big\n",
            "key 'max_dimension': the value \"big\" is of the wrong type; expected an integer >= 1",
        ),
        ("model_instances = -1\n", "key 'model_instances'"),
        ("[fetch]\nenabled = maybe\n", "key 'fetch.enabled'"),
        ("[nnd]\nmin_face_size = 0\n", "key 'nnd.min_face_size'"),
        ("[facen]\nmodel = arcface\n", "key 'facen.model': the value \"arcface\" is unacceptable"),
        ("listen = 18666\n", "key 'listen': '18666' is not host:port"),
        ("[fetch]\nallowed_networks = 10.0.0.0/33\n", "key 'fetch.allowed_networks'"),
        (
            "[fetch]\nsize_limt = 5\n",
            "unknown key 'fetch.size_limt' (known here: allow_private_addresses, allowed_networks",
        ),
        ("ticker_interval = 5000\n", "unknown key 'ticker_interval'"),
        ("[age]\nmodel = faceres\n", "key 'age.model'"),
        ("[emotions]\nmodel = big-xception\n", "key 'emotions.model'"),
    ],
)
def test_invalid_values_name_file_key_and_expectation(tmp_path, text, expected):
    message = error_for(tmp_path, text)
    assert message.startswith(str(tmp_path / "test.ini") + ": ") and expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text,line,suggestion",
    [
        ("listen: 127.0.0.1:18666\n", 1, "write 'listen = 127.0.0.1:18666'"),
        ("listen = :18666\nfetch:\n  enabled: true\n", 2, "write '[fetch]'"),
    ],
)
def test_yaml_style_file_is_answered_with_the_ini_form(tmp_path, text, line, suggestion):
    message = error_for(tmp_path, text)
    assert f"line {line}:" in message and "YAML" in message and suggestion in message


def test_listen_on_all_interfaces(tmp_path):
    settings = load_text(tmp_path, "listen = :8080\n")
    assert (settings.listen_host, settings.listen_port) == ("", 8080)


# ------------------------------------------------------------- the console entry point


def test_check_config_prints_the_effective_settings(tmp_path):
    """In the file's own form: the printed text is a configuration that loads to the same settings."""
    result = cli("--config", SHIPPED, "--check-config")
    assert result.returncode == 0, result.stderr
    assert "listen = 127.0.0.1:18666" in result.stdout and "max_face_size = inf" in result.stdout
    assert "listen_port" not in result.stdout
    again = tmp_path / "effective.ini"
    again.write_text(result.stdout)
    assert config.load(str(again)) == config.load(SHIPPED)


def test_check_config_rejects_a_bad_file_in_one_line(tmp_path):
    path = tmp_path / "bad.ini"
    path.write_text("fetch:\n  enabled: false\n")
    result = cli("--config", str(path), "--check-config")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr and "[fetch]" in result.stderr


def test_missing_config_file(tmp_path):
    result = cli("--config", str(tmp_path / "nope.ini"))
    assert result.returncode == 2 and "cannot read the configuration file" in result.stderr


def test_missing_bundle_fails_fast_and_says_how_to_build_it(tmp_path):
    path = tmp_path / "c.ini"
    write_config(path, free_port())
    result = cli("--config", str(path), "--models-root", str(tmp_path / "no-models"))
    assert result.returncode == 1
    assert "manifest.json is missing" in result.stderr and "make models" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_model_file_is_named(tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(BUNDLE, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    victim = copy / manifest["models"]["emotions"]["file"]
    victim.write_bytes(victim.read_bytes()[:1000])
    path = tmp_path / "c.ini"
    write_config(path, free_port())
    result = cli("--config", str(path), "--models-root", str(copy))
    assert result.returncode == 1 and str(victim) in result.stderr and "corrupt" in result.stderr


def test_port_in_use_is_reported(tmp_path, api):
    path = tmp_path / "c.ini"
    write_config(path, int(api.base.rsplit(":", 1)[1]))
    result = cli("--config", str(path))
    assert result.returncode == 1 and "cannot listen on 127.0.0.1" in result.stderr
    assert "choose another with --listen HOST:PORT" in result.stderr


def test_listen_on_the_command_line_overrides_the_file():
    result = cli("--config", SHIPPED, "--listen", "127.0.0.1:18999", "--check-config")
    assert result.returncode == 0 and "listen = 127.0.0.1:18999" in result.stdout, result.stderr


def readme_configuration_table():
    """{`section.key`: default as the README's configuration table prints it}."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = readme.split("\n## Configuration\n", 1)[1].split("\n\n| key | default | meaning |\n", 1)[1].split("\n\n")[0]
    rows = {}
    for row in table.splitlines()[1:]:
        keys, defaults = row.split(" | ")[:2]
        section = re.match(r"\| `(\[\w+\] )?", keys).group(1) or ""
        names = re.findall(r"`(?:\[\w+\] )?(\w+)`", keys)
        values = ["" if value == "empty" else value.strip("`") for value in defaults.split(", ")]
        assert len(names) == len(values), row
        rows.update({".".join(filter(None, (section.strip(" []"), n))): v for n, v in zip(names, values, strict=True)})
    return rows


@pytest.mark.unit
def test_readme_configuration_table_lists_every_key_with_its_default():
    spec = configobj.ConfigObj(os.path.join(os.path.dirname(config.__file__), "config.spec"), _inspec=True)
    defaults = {}
    for section in [None, *spec.sections]:
        for key, check in (spec if section is None else spec[section]).items():
            if isinstance(check, str):
                default = re.search(r"default=('?)(.*?)\1\)", check).group(2)
                defaults[".".join(filter(None, (section, key)))] = default
    documented = readme_configuration_table()
    assert sorted(documented) == sorted(defaults)
    for key, default in defaults.items():
        try:
            same = float(documented[key]) == float(default)
        except ValueError:
            same = documented[key] == default.lower()  # booleans: the README writes them as the file does
        assert same, f"{key}: README says {documented[key]!r}, config.spec {default!r}"


def test_check_config_into_a_closed_pipe_prints_no_traceback():
    """`findface-extraction-api --check-config | head -1`: the reader may be gone before we write."""
    read, write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "findface_extraction_api.cli", "--config", SHIPPED, "--check-config"],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write)
    os.close(read)  # no reader left when it prints
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
