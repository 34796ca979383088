"""Config loading: the shipped default, overrides, and errors that name file, key, problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hinedockd.config import ConfigError, apply_environment, load_config, parse_config
from tests.conftest import ROOT

GOOD = """
[[hosts]]
facility_id = "docker_host1"
url = "tcp://10.0.200.123:2375"
address = "10.0.200.123"
"""


def test_shipped_config_is_the_embedded_default() -> None:
    cfg = load_config(ROOT / "config.toml", env={})
    (host,) = cfg.hosts
    assert (host.facility_id, host.url, host.address) == (
        "docker_host1", "unix:///var/run/docker.sock", "127.0.0.1")
    assert cfg.hinemos.api == "dry-run"
    assert cfg.daemon.socket == "/run/hinedockd/hinedockd.sock"
    assert cfg.syslog[0].target.startswith("file://")
    # The report's defaults (-i 127.0.0.1 -p 2375) find it, whatever its URL.
    assert cfg.find_host("127.0.0.1", 2375) is host


def test_environment_overrides() -> None:
    cfg = apply_environment(parse_config(GOOD), {"HINEDOCK_SOCKET": "/tmp/s.sock",
                                                 "HINEDOCK_STATE_DIR": "/tmp/state"})
    assert (cfg.daemon.socket, cfg.daemon.state_dir) == ("/tmp/s.sock", "/tmp/state")


def test_defaults_and_port_lookup() -> None:
    cfg = parse_config(GOOD + """
[[hosts]]
facility_id = "docker_host2"
url = "tcp://10.0.200.123:2376"
address = "10.0.200.123"
""")
    h = cfg.hosts[0]
    assert cfg.daemon.retention_seconds == 900
    # One sample of each container per default window: bench/README.md §7, §8.
    assert (h.stats, h.poll_interval_seconds) == ("poll", 60.0)
    assert cfg.find_host("10.0.200.123", 2376).facility_id == "docker_host2"
    assert cfg.find_host("docker_host1").port == 2375
    with pytest.raises(KeyError, match="unknown host 'nope'"):
        cfg.find_host("nope")


def test_poll_interval_follows_the_default_window_unless_set() -> None:
    host = '[[hosts]]\nfacility_id = "h"\nurl = "unix:///x.sock"\naddress = "127.0.0.1"\n'
    wider = parse_config("[daemon]\ndefault_window_seconds = 120\n" + host)
    assert wider.hosts[0].poll_interval_seconds == 120.0
    chosen = parse_config("[daemon]\ndefault_window_seconds = 120\n" + host
                          + "poll_interval_seconds = 15\n")
    assert chosen.hosts[0].poll_interval_seconds == 15.0


@pytest.mark.parametrize("text, message", [
    ("[daemon]\nretention_seconds = 10\n" + GOOD,
     "daemon.retention_seconds: must be between 60 and"),
    ("[daemon]\nretention_seconds = 9000000000000000000\n" + GOOD,
     "daemon.retention_seconds: must be between 60 and 86400"),
    ("[daemon]\nstats_silence_seconds = nan\n" + GOOD, "daemon.stats_silence_seconds: must be"),
    ("[daemon]\nstats_silence_seconds = inf\n" + GOOD, "daemon.stats_silence_seconds: must be"),
    ("[daemon]\nsocket_group = 'no_such_group_xyz'\n" + GOOD,
     "daemon.socket_group: no group 'no_such_group_xyz' on this machine"),
    (GOOD.replace("tcp://10.0.200.123:2375", "https://10.0.200.123:2376")
     + 'tls_ca = "/no/such/ca.pem"\n',
     "hosts[0].tls_ca: cannot read /no/such/ca.pem: No such file or directory"),
    (GOOD + "[hosts.snmp]\nport = 70000\n", "hosts[0].snmp.port: must be between 1 and 65535"),
    ("[daemon]\nretension_seconds = 900\n" + GOOD, "daemon.retension_seconds: unknown key"),
    ("[daemon]\ncpu_scale = 'cores'\n" + GOOD, "daemon.cpu_scale: must be one of host, core"),
    ("[daemon]\nsocket = 5\n" + GOOD, "daemon.socket: must be str, got 5"),
    ("", "hosts: at least one [[hosts]] entry is required"),
    (GOOD + "[hinemos]\ntimeout_seconds = 0.5\n", "hinemos.timeout_seconds: must be between 1 and"),
    (GOOD.replace('"docker_host1"', '"bad id!"'), "hosts[0].facility_id: 'bad id!'"),
    (GOOD.replace("tcp://10.0.200.123:2375", "ftp://x"), "hosts[0].url: must be"),
    (GOOD.replace('address = "10.0.200.123"', 'address = "host1"'),
     "hosts[0].address: must be an IPv4 address"),
    (GOOD.replace('address = "10.0.200.123"', ''), "hosts[0].address: is required"),
    (GOOD + 'tls_ca = "/ca.pem"\n', "hosts[0].url: tls_* settings need an https:// URL"),
    (GOOD + GOOD, "hosts[1].facility_id: duplicate 'docker_host1'"),
    (GOOD + "[hinemos]\npassword = 'x'\n", "hinemos.password: inline passwords are not"),
    (GOOD + "[hinemos]\ncontainer_facility_id = '{host}-{nme}'\n",
     "hinemos.container_facility_id: bad template"),
    (GOOD + "[[syslog]]\ntarget = 'syslog.example'\n", "syslog[0].target: must be"),
    (GOOD + "[[syslog]]\ntarget = 'udp://h:514'\nevents = ['start']\n",
     "syslog[0].events: must be a list of TYPE.ACTION globs"),
    (GOOD + "[[syslog]]\ntarget = 'udp://h:514'\nskip_events = [1]\n",
     "syslog[0].skip_events: must be a list"),
    (GOOD + "[hosts.snmp]\nversion = '3'\n", "hosts[0].snmp.version: must be one of 1, 2c"),
    ("[[hosts]\n", "not valid TOML"),
    ("[daemon]\nprometheus = 'http://x'\n" + GOOD, "daemon.prometheus: must be host:port"),
    (GOOD + "[hinemos]\napi = 'rest'\n",  # the default URL is the SOAP one
     "hinemos.url: 'http://127.0.0.1:8080/HinemosWS' is the SOAP API's base, but api = 'rest'"
     "; for rest it is http://HOST:8080/HinemosWeb/api (7.x)"),
    (GOOD + "[hinemos]\napi = 'soap'\nurl = 'http://m:8080/HinemosWeb/api/'\n",
     "hinemos.url: 'http://m:8080/HinemosWeb/api/' is the REST API's base, but api = 'soap'"
     "; for soap it is http://HOST:8080/HinemosWS (5.x/6.x)"),
])
def test_errors_name_the_key_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "/etc/hinedockd/config.toml")
    assert str(e.value).startswith("/etc/hinedockd/config.toml: ")
    assert message in str(e.value)


def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config", str(good),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0 and "OK" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD + "[daemon]\nsocket_mode = 1\n")
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config", str(bad),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 1 and f"{bad}: daemon.socket_mode: unknown key" in r.stderr
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config",
                        str(tmp_path / "missing.toml"), "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_check_config_warns_about_permissions_and_never_prints_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "hinemos.password"
    secret.write_text("s3cret-Passw0rd\n")
    secret.chmod(0o644)
    cfg = tmp_path / "config.toml"
    cfg.write_text(GOOD + f'[hinemos]\napi = "rest"\npassword_file = "{secret}"\n'
                   'url = "http://127.0.0.1:8080/HinemosWeb/api"\n')
    cfg.chmod(0o644)
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config", str(cfg),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "readable by every user" in r.stderr and "readable by other users" in r.stderr
    assert "s3cret" not in r.stdout + r.stderr
    secret.chmod(0o640)
    cfg.chmod(0o640)
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config", str(cfg),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0 and "warning" not in r.stderr
    secret.write_text("")
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config", str(cfg),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 1 and "no password found" in r.stderr


def test_passwords_in_clear_over_the_network_get_a_warning(tmp_path: Path) -> None:
    from hinedockd.app import permission_warnings

    def warnings(hinemos: str) -> list[str]:
        cfg = tmp_path / "c.toml"
        cfg.write_text(GOOD + hinemos)
        cfg.chmod(0o600)
        return permission_warnings(load_config(cfg, env={}))

    away = warnings('[hinemos]\napi = "soap"\nurl = "http://manager:8080/HinemosWS"\n'
                    'password_file = ""\n')
    assert len(away) == 1 and "plain http" in away[0], away
    assert warnings('[hinemos]\napi = "soap"\nurl = "https://manager:8443/HinemosWS"\n'
                    'password_file = ""\n') == []
    assert warnings('[hinemos]\napi = "soap"\nurl = "http://127.0.0.1:8080/HinemosWS"\n'
                    'password_file = ""\n') == []
    trap = warnings('[hinemos.customtrap]\nurl = "http://u:secret@manager:8082/"\n')
    assert len(trap) == 1 and "carries a password" in trap[0] and "secret" not in trap[0]


def test_each_syslog_target_names_the_events_it_takes() -> None:
    cfg = parse_config(GOOD + """
[[syslog]]
target = "udp://127.0.0.1:514"

[[syslog]]
target = "udp://127.0.0.1:515"
events = ["container.*"]
skip_events = ["container.exec_*"]
""")
    every, containers = cfg.syslog
    # The default: every event but the networks' connect/disconnect of each start/stop.
    assert every.wants("container", "start") and every.wants("image", "pull")
    assert every.wants("container", "exec_create: sh -c true")
    assert not every.wants("network", "connect") and not every.wants("network", "disconnect")
    assert containers.wants("container", "die")
    assert containers.wants("container", "health_status: unhealthy")
    assert not containers.wants("container", "exec_start: sh -c true")
    assert not containers.wants("image", "pull")


# ---- the schema: one declaration gives the reading and the README's table ------------

# Where each table's keys go in a file (with what the table itself requires), and the
# dotted path its errors name.
PLACES = {
    "[daemon]": ("[daemon]\n{key}\n" + GOOD, "daemon"),
    "[[hosts]]": (GOOD + "{key}\n", "hosts[0]"),
    "[hosts.snmp]": (GOOD + "[hosts.snmp]\n{key}\n", "hosts[0].snmp"),
    "[[syslog]]": (GOOD + "[[syslog]]\ntarget = 'udp://h:514'\n{key}\n", "syslog[0]"),
    "[logs]": (GOOD + "[logs]\n{key}\n", "logs"),
    "[[logs.rules]]": (GOOD + "[[logs.rules]]\n{key}\n", "logs.rules[0]"),
    "[[logs.severity_patterns]]": (GOOD + "[[logs.severity_patterns]]\npattern = 'x'\n{key}\n",
                                   "logs.severity_patterns[0]"),
    "[hinemos]": (GOOD + "[hinemos]\n{key}\n", "hinemos"),
    "[hinemos.customtrap]": (GOOD + "[hinemos.customtrap]\nurl = 'http://m:8082/'\n{key}\n",
                             "hinemos.customtrap"),
}


def test_every_table_of_the_schema_has_a_place_and_every_key_its_rules() -> None:
    from hinedockd.config import SECTIONS
    from hinedockd.schema import schema

    assert [name for name, _ in SECTIONS] == list(PLACES)
    for _, cls in SECTIONS:
        assert schema(cls)  # TypeError for a field without a Key or a number without a minimum


def test_a_file_that_says_nothing_gets_every_default() -> None:
    from hinedockd.config import DaemonConfig, HinemosConfig, HostConfig, LogsConfig

    cfg = parse_config(GOOD)
    assert cfg.daemon == DaemonConfig() and cfg.hinemos == HinemosConfig()
    assert cfg.logs == LogsConfig() and cfg.syslog == ()
    assert cfg.hosts[0] == HostConfig("docker_host1", "tcp://10.0.200.123:2375", "10.0.200.123")


@pytest.mark.parametrize("section", list(PLACES))
def test_each_key_of_each_table_is_checked_by_its_declaration(section: str) -> None:
    """From the schema: an unknown key, a number below its minimum or of another type,
    a value outside a key's choices: each refused, naming the key by its dotted path."""
    from hinedockd.config import SECTIONS
    from hinedockd.schema import schema

    text, where = PLACES[section]
    cls = dict(SECTIONS)[section]

    def refused(line: str, key: str, problem: str) -> None:
        with pytest.raises(ConfigError) as e:
            parse_config(text.format(key=line))
        assert f": {where}.{key}: {problem}" in str(e.value)

    refused("no_such_key = 1", "no_such_key", "unknown key")
    for f in schema(cls):
        if f.kind in (int, float) and f.key.read is None:
            assert f.key.min is not None
            refused(f"{f.name} = {f.key.min - 1}", f.name, "must be between")
            refused(f"{f.name} = 'x'", f.name, f"must be {f.kind.__name__}, got 'x'")
        elif f.key.choices or str(f.kind).startswith("typing.Literal"):
            refused(f"{f.name} = 'nonesuch'", f.name, "must be one of")
        elif f.kind is bool:
            refused(f"{f.name} = 'yes'", f.name, "must be bool, got 'yes'")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_readmes_configuration_tables_are_the_schemas(lang: str) -> None:
    """Rewrite them with `.venv/bin/python -m tests.readme_config`."""
    from hinedockd.config import reference_table
    from tests.readme_config import written

    assert written(lang) == reference_table(lang)  # type: ignore[arg-type]
    assert "| `[daemon] retention_seconds` | 900 | 60 – 86,400 |" in reference_table("en")
