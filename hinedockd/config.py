"""Configuration: TOML file -> frozen dataclasses.

Each key is declared once, on its dataclass: its type, its default and a `Key` (bounds,
a check, what it means in English and Japanese). hinedockd/schema.py reads a table from
that declaration and writes the README's configuration table from it; what spans keys
(a TLS file needs an https URL, a window within the retention) is checked here, after
the read. Every error names the file, the key (as a dotted path) and the problem, so an
operator can fix a config without reading code.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

from hinedockd.messages.framing import FACILITIES, SEVERITIES
from hinedockd.metrics.figures import REPORT_FIGURES
from hinedockd.model import FACILITY_ID_MAX, FACILITY_ID_RE, LIFE_FIGURES, CpuScale
from hinedockd.processes import compile_pattern
from hinedockd.schema import Check, Key, Lang, Table, read, reference
from hinedockd.schema import ConfigError as ConfigError

DEFAULT_CONFIG_PATH = "/etc/hinedockd/config.toml"
SOCKET_ENV = "HINEDOCK_SOCKET"
STATE_DIR_ENV = "HINEDOCK_STATE_DIR"
LogFormat = Literal["json", "console"]
LogTarget = Literal["auto", "journal", "stdout"]
StatsMode = Literal["stream", "poll"]
SnmpVersion = Literal["1", "2c"]
HinemosApi = Literal["dry-run", "soap", "rest"]
SyslogFormat = Literal["rfc3164", "rfc5424"]
TcpFraming = Literal["octet-counting", "lf"]
RETENTION_MAX = 86_400  # a day of history: the coarse ring's rows are sized from it


# ---- checks of one value: the problem, or None ----------------------------------------

def _group(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        grp.getgrnam(name)
    except KeyError:
        return f"no group {name!r} on this machine"
    return None


def _groups(names: tuple[str, ...]) -> str | None:
    """Groups that exist on this machine (a typo would lock everyone out, or in)."""
    if not all(names):
        return "must be a list of group names"
    return next((p for p in map(_group, names) if p), None)


def _readable(path: str | None) -> str | None:
    """A path the daemon will open at start: it must be there now, or the config
    passes --check-config and the daemon fails later with an error naming no key."""
    if path is not None:
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            return f"cannot read {path}: {e.strerror or e}"
    return None


def _host_port(value: str) -> str | None:
    if value and not re.match(r"^[^\s/]*:\d{1,5}$", value):
        return f"must be host:port (e.g. 127.0.0.1:9323), got {value!r}"
    return None


def _facility_id(value: str) -> str | None:
    if not FACILITY_ID_RE.match(value) or len(value) > FACILITY_ID_MAX:
        return f"{value!r} is not a valid Hinemos facility ID (letters, digits, - _ . @)"
    return None


def _form(pattern: str, form: str) -> Check:
    """A string that must match `pattern`, said to the operator as `form`."""
    regex = re.compile(pattern)

    def check(value: str) -> str | None:
        return None if regex.match(value) else f"must be {form}; got {value!r}"
    return check


_engine_url = _form(r"^(unix:///\S+|(tcp|http|https)://[^/\s]+/?)$",
                    "unix:///path, tcp://host:port or https://host:port")


def _ipv4(address: str) -> str | None:
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return f"must be an IPv4 address, got {address!r}"
    return None


def _template(template: str) -> str | None:
    try:
        template.format(host="h", name="n", id="i")
    except (KeyError, IndexError, ValueError) as e:
        return f"bad template ({e}); fields: {{host}} {{name}} {{id}}"
    return None


def _re2(pattern: str) -> str | None:
    try:
        compile_pattern(pattern, "")
    except ValueError as e:
        return str(e).removeprefix(": ")
    return None


def _re2_or_empty(pattern: str) -> str | None:
    """(A Key's check is a named function: the annotations are evaluated in the
    class's namespace, where a lambda would not see this module's names.)"""
    return _re2(pattern) if pattern else None


def _globs(globs: tuple[str, ...]) -> str | None:
    return None if all(globs) else "must be a list of glob patterns (non-empty strings)"


def _labels(globs: tuple[str, ...]) -> str | None:
    if problem := _globs(globs):
        return problem
    if not all("=" in g for g in globs):
        return "each must be KEY=VALUE (globs, e.g. \"app=web*\")"
    return None


EVENT_GLOB = re.compile(r"^\*$|^[a-z*?]+\.[a-z_*?]+$")


def _event_globs(globs: tuple[str, ...]) -> str | None:
    bad = [g for g in globs if not EVENT_GLOB.match(g)]
    if bad:
        return ("must be a list of TYPE.ACTION globs such as \"container.*\" or "
                f"\"image.pull\" (or \"*\"); got {', '.join(map(repr, bad))}")
    return None


_syslog_target = _form(r"^(udp|tcp)://[^/:\s]+:\d+$|^file:///\S+$",
                       "udp://host:port, tcp://host:port or file:///path")
_trap_url = _form(r"^https?://[^/\s]+(/\S*)?$", "http://HOST:PORT/ or https://… (the "
                  "manager's monitor.customtrap.url, default port 8082)")


def _timezone(zone: str | None) -> str | None:
    if zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone {zone!r} (e.g. Asia/Tokyo)"
    return None


# ---- the tables ------------------------------------------------------------------------

@dataclass(frozen=True)
class DaemonConfig:
    socket: Annotated[str, Key(
        "local API socket (mode 0660)",
        "ローカル API のソケット（モード 0660）")] = "/run/hinedockd/hinedockd.sock"
    socket_group: Annotated[str | None, Key(
        "group owning the socket: its members read figures (put the Hinemos agent's user in "
        "it); must exist",
        "ソケットのグループ。メンバーは値を読めます（カスタム監視を実行するユーザを入れる）。存在するグループ",
        check=_group)] = None
    state_dir: Annotated[str, Key(
        "persistent state (event cursors, states sent, nodes added)",
        "イベントの位置、送った状態、ノードの追加記録の保存先")] = "/var/lib/hinedockd"
    retention_seconds: Annotated[int, Key(
        "history kept per container, in seconds",
        "コンテナごとに保持する履歴（秒）", min=60, max=RETENTION_MAX)] = 900
    default_window_seconds: Annotated[int, Key(
        "window when none is asked, and for a key's first call (at most `retention_seconds`)",
        "時間幅を指定しない呼び出しと `-k` の初回の時間幅（`retention_seconds` 以下）",
        min=1)] = 60
    # "host": % of the whole host (0-100); "core": % of one core
    cpu_scale: Annotated[CpuScale, Key(
        "`host`: CPU as % of the whole host (0-100); `core`: % of one core",
        "`hinedock cpu` などの目盛り: `host`（ホスト全体に対する %）または `core`"
        "（1 コアに対する %）",
    )] = "host"
    size_cache_seconds: Annotated[int, Key(
        "disk usage (`/system/df`) is cached this long: it is expensive for the engine",
        "ディスク使用量（`/system/df`）はエンジンの負荷が大きいのでこの秒数キャッシュ",
        min=0)] = 300
    stats_silence_seconds: Annotated[float, Key(
        "a stats stream silent this long (and three of its own intervals) is reopened",
        "統計のストリームがこの秒数（とストリーム自身の間隔の 3 倍の長い方）黙ったら開き直す",
        min=0.5)] = 3.0
    relist_seconds: Annotated[int, Key(
        "full container re-list, a safety net beside the events",
        "コンテナ一覧の取り直し（イベントの補完）", min=5)] = 60
    state_report_seconds: Annotated[int, Key(
        "every container's state to syslog this often (0 = off)",
        "全コンテナの状態を定期的に syslog へ（0 = しない）", min=0)] = 0
    log_format: Annotated[LogFormat, Key(
        "the daemon's own log on stdout: one JSON object a line, or for people",
        "標準出力のとき: 1 行 1 オブジェクトの JSON、または人が読む形")] = "json"
    prometheus: Annotated[str, Key(
        "`host:port` for a Prometheus `/metrics` endpoint (see \"Prometheus\" below)",
        "`host:port` で Prometheus の `/metrics` を公開（下の「Prometheus」）",
        check=_host_port, shown=("(off)", "なし"))] = ""
    log_target: Annotated[LogTarget, Key(
        "`journal` (native fields), `stdout`, or `auto` (journal under systemd)",
        "`journal`（フィールドつき）、`stdout`、`auto`（systemd の下ではジャーナル）")] = "auto"
    job_groups: Annotated[tuple[str, ...], Key(
        "groups whose members may also run jobs (exec, download, start, stop, restart, rm); "
        "root always may; each must exist",
        "ジョブ（コマンド実行、ダウンロード、起動・停止・再起動・削除）も実行できるグループ。"
        "root は常に実行できます。存在しないグループは設定エラー", check=_groups)] = ()
    # The local API's connections (gate.py): readers' in all and each uid's (root has an
    # allowance of its own), and how long a connection may take to send its headers.
    max_connections: Annotated[int, Key(
        "local API connections held by readers in all; over it a connection gets `503` and "
        "a `connection refused` log line (one a minute per uid)",
        "読み取り利用者が保てるローカル API の接続数の合計。超えた接続には `503` を返し、"
        "`connection refused` をログに残します（uid ごとに 1 分 1 回）", min=1)] = 1024
    max_connections_per_user: Annotated[int, Key(
        "the same, for one uid (root: 256 of its own)",
        "同じく uid ごと（root は別に 256）", min=1)] = 128
    request_header_seconds: Annotated[float, Key(
        "a connection that has not sent its request's headers within this long is closed",
        "この時間内にリクエストのヘッダを送り終えない接続を閉じます", min=0.1)] = 5.0
    # Docker runs each health check as an exec and tells it as events (exec_create,
    # exec_start, exec_die) every interval: kept out of syslog and the event history
    # unless this is true (the check's result is told as health_status either way).
    health_check_events: Annotated[bool, Key(
        "send the exec events of Docker's health checks (a set every check interval) to syslog "
        "too (the check's result goes as `health_status` either way)",
        "Docker のヘルスチェックの exec イベント（チェックの間隔ごとに 1 組）も syslog に送る"
        "（結果は `health_status` としていずれにせよ送ります）")] = False
    restart_loop_count: Annotated[int, Key(
        "this many restarts of one container within `restart_loop_seconds` are a restart "
        "loop: one warning per window",
        "1 つのコンテナが `restart_loop_seconds` 以内にこの回数再起動したら再起動ループとして警告"
        "（時間幅ごとに 1 回）", min=2)] = 5
    restart_loop_seconds: Annotated[int, Key(
        "the restart loop's window (at most `retention_seconds`)",
        "再起動ループの時間幅（`retention_seconds` 以下）", min=10)] = 300


@dataclass(frozen=True)
class SnmpConfig:
    version: Annotated[SnmpVersion, Key(
        "the host's SNMP agent for `--with-host` (v1 or v2c)",
        "`--with-host` 用の SNMP エージェント（v1 または v2c）")] = "2c"
    community: Annotated[str, Key("its community", "コミュニティ名")] = "public"
    port: Annotated[int, Key("its UDP port", "UDP ポート", min=1, max=65535)] = 161
    poll_seconds: Annotated[float, Key(
        "how often it is asked", "問い合わせの間隔（秒）", min=1)] = 10.0
    timeout_seconds: Annotated[float, Key(
        "how long an answer is awaited", "応答を待つ時間（秒）", min=0.1)] = 2.0
    retries: Annotated[int, Key(
        "retries of an unanswered request", "応答がないときの再送回数", min=0)] = 1


@dataclass(frozen=True)
class HostConfig:
    facility_id: Annotated[str, Key(
        "the host node's Hinemos facility ID", "ホストノードのファシリティ ID",
        check=_facility_id)]
    url: Annotated[str, Key(
        "the engine: `unix:///var/run/docker.sock`, `tcp://host:2375`, `https://host:2376`",
        "エンジンの URL: `unix:///var/run/docker.sock`、`tcp://host:2375`、`https://host:2376`",
        check=_engine_url)]
    address: Annotated[str, Key(
        "IPv4 of the host (Hinemos nodes; matched by `-i`)",
        "IPv4 アドレス（ノードに使い、`-i` で照合）", check=_ipv4)]
    # the engine's cost is per sample: bench/README.md §7, §8
    stats: Annotated[StatsMode, Key(
        "`poll` (one-shot samples on the clock) or `stream` (one stream per container, a "
        "sample a second); see \"Sampling and what it costs the Docker host\"",
        "`poll`（時刻に揃えた 1 回ずつの取得）または `stream`（コンテナごとにストリーム、毎秒）。"
        "「統計値の取り方と Docker ホストの負荷」の節")] = "poll"
    # Unset in the file: [daemon] default_window_seconds (one sample per window).
    poll_interval_seconds: Annotated[float, Key(
        "`poll`: a round that ends a second before each multiple of this (started as early as "
        "the last one took); a container that starts is sampled at once and 5 s later",
        "`poll` の間隔。各倍数の 1 秒前に終わるように（前回かかった分だけ早く）始めます。起動した"
        "コンテナはすぐと 5 秒後にも取得",
        min=1, shown=("`[daemon] default_window_seconds` (60)",
                      "`[daemon] default_window_seconds`（60）"))] = 60.0
    # Docker 20.10 holds each one-shot answer until its stats collector's next tick
    # (about 1 s) and serves every waiting request in that tick: 101 containers take
    # 13.3 s a round 8 at once, 2.2 s 64 at once, 1.2 s all at once (bench/README.md §8).
    poll_concurrency: Annotated[int, Key(
        "`poll`: requests at once (Docker answers every waiting one-shot request at its stats "
        "collector's next tick, so a round of 101 containers takes about 2 s)",
        "`poll` の同時要求数（Docker は待っている要求に統計収集の次の周期でまとめて答えるので、"
        "101 コンテナの 1 巡は約 2 秒）", min=1)] = 64
    tls_ca: Annotated[str | None, Key(
        "CA file for an `https://` engine", "`https://` のエンジンの CA ファイル")] = None
    tls_cert: Annotated[str | None, Key(
        "client certificate (with `tls_key`)", "クライアント証明書（`tls_key` と組で）")] = None
    tls_key: Annotated[str | None, Key(
        "client key (with `tls_cert`)", "クライアント鍵（`tls_cert` と組で）")] = None
    tls_verify: Annotated[bool, Key(
        "verify the engine's certificate (`false`: tests only)",
        "エンジンの証明書を検証する（`false` は試験用）")] = True
    snmp: Annotated[SnmpConfig | None, Key("[hosts.snmp]", "[hosts.snmp]")] = None

    @property
    def port(self) -> int | None:
        """The TCP port of the engine URL, matched by the report's `-p`."""
        m = re.match(r"^(?:tcp|https?)://[^/:]+:(\d+)", self.url)
        return int(m.group(1)) if m else None


# The figures a push can carry (hinemos/customtrap.py), and the ones sent by default.
# A container node's keys: the report's names (its monitors' keys less the `:<id>`),
# `limit_mem_usage` for the share of the container's own limit, `cpu_usage#*` for one
# item per core (`cpu_usage#0`, `cpu_usage#1`…; cgroup v1 only), and the lifecycle.
# The names and their rules: metrics/figures.py REPORT_FIGURES, model.py LIFE_FIGURES.
TRAP_KEYS = ("cpu_usage", "cpu_usage#*", *(k for k in REPORT_FIGURES if k != "cpu_usage"),
             *(k for k, f in LIFE_FIGURES.items() if f.pushed))
TRAP_DEFAULT_KEYS = tuple(k for k in TRAP_KEYS if k != "cpu_usage#*")
# A host node's keys: whether the engine answers (1/0, sent even when it does not),
# its containers per state (the report's host count keys), and with [hosts.snmp] the
# host's CPU and memory outside its containers (the report's `cpu_usage:host`,
# `host_mem_usage:host`).
TRAP_HOST_KEYS = ("engine_status", "running", "paused", "exited", "created", "restarting",
                  "removing", "dead", "cpu_usage", "host_mem_usage")
# A process count's KEY: what a monitor's key pattern can match, never a figure's name.
TRAP_PROCESS_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def _keys_of(known: tuple[str, ...], empty: bool) -> Key:
    def check(keys: tuple[str, ...]) -> str | None:
        unknown = [k for k in keys if k not in known]
        if unknown or not (keys or empty):
            return (f"must be a {'' if empty else 'non-empty '}list of {', '.join(known)}; "
                    f"unknown: {', '.join(unknown) or 'none given'}")
        return None
    if empty:
        return Key("the host node's figures: any of " + ", ".join(f"`{k}`" for k in known),
                   "ホストノードの値: " + "、".join(f"`{k}`" for k in known) + " から",
                   check=check, shown=("all", "すべて"))
    return Key("a container node's figures: any of " + ", ".join(f"`{k}`" for k in known),
               "コンテナノードの値: " + "、".join(f"`{k}`" for k in known) + " から",
               check=check, shown=("all but `cpu_usage#*`", "`cpu_usage#*` 以外すべて"))


def _trap_processes(t: Table, name: str) -> tuple[tuple[str, str], ...]:
    """`processes = {KEY = "regex"}`: a TOML table the types cannot say."""
    out = []
    for key, pattern in t.value(name, dict, {}).items():
        where = f"{name}.{key}"
        if not TRAP_PROCESS_KEY.match(key) or key in TRAP_KEYS:
            t.fail(where, "a process count's KEY is a letter, then up to 63 letters, digits "
                          "or _ . - and not a figure's name (cpu_usage…)")
        if not isinstance(pattern, str):
            t.fail(where, f"must be the regex a process's command matches; got {pattern!r}")
        if problem := _re2(pattern):
            t.fail(where, problem)
        out.append((key, pattern))
    return tuple(out)


@dataclass(frozen=True)
class CustomTrapConfig:
    """`[hinemos.customtrap]`: push figures and state changes to the manager's custom
    trap monitoring (Hinemos 6.0+), instead of a process per node and interval."""

    url: Annotated[str, Key(
        "the manager's `monitor.customtrap.url`, e.g. `http://MANAGER:8082/`; the table turns "
        "the push on (see \"Pushing to Hinemos\")",
        "マネージャの `monitor.customtrap.url`（例 `http://MANAGER:8082/`）。この表があると送信します"
        "（「Hinemos へ送る」の節）", check=_trap_url)]
    interval_seconds: Annotated[int, Key(
        "a round of figures this often", "値を送る間隔（秒）", min=10)] = 60
    events: Annotated[bool, Key(
        "each container state change as a `string` item, at once",
        "コンテナの状態の変化をそのつど `string` の項目として送る")] = True
    keys: Annotated[tuple[str, ...], _keys_of(TRAP_KEYS, empty=False)] = TRAP_DEFAULT_KEYS
    host_keys: Annotated[tuple[str, ...], _keys_of(TRAP_HOST_KEYS, empty=True)] = TRAP_HOST_KEYS
    # KEY -> the regex a process's command must match (`hinedock proc -p`): one `/top`
    # per running container per interval, which costs the engine; none by default.
    processes: Annotated[tuple[tuple[str, str], ...], Key(
        "`{KEY = \"regex\"}`: the count of each container's processes whose command matches "
        "(one `/top` per running container a round, which costs the engine)",
        "`{KEY = \"正規表現\"}`: コマンドが合うプロセスの数をコンテナごとに送る（1 巡ごとに実行中の"
        "コンテナごとに `/top` を 1 回、エンジンの負荷になります）",
        read=_trap_processes, shown=("`{}`", "`{}`"))] = ()
    tls_ca: Annotated[str | None, Key(
        "CA file for an `https://` URL", "`https://` の URL の CA ファイル",
        check=_readable)] = None
    timezone: Annotated[str | None, Key(
        "the manager's time zone (DATE carries none), e.g. `Asia/Tokyo`",
        "マネージャのタイムゾーン（DATE には含まれない）。例 `Asia/Tokyo`",
        check=_timezone, shown=("this machine's", "このマシンのもの"))] = None
    timeout_seconds: Annotated[float, Key(
        "one body's limit", "1 回の送信の上限（秒）", min=1)] = 10.0
    concurrency: Annotated[int, Key(
        "bodies in flight at once", "同時に送る数", min=1)] = 8
    queue_size: Annotated[int, Key(
        "state changes kept while the manager is away; the rest are dropped and counted",
        "マネージャが応答しない間に保持する状態の変化。超えた分は捨てて数えます", min=1)] = 10_000


@dataclass(frozen=True)
class HinemosConfig:
    api: Annotated[HinemosApi, Key(
        "`soap` (5.x/6.x), `rest` (7.x), `dry-run` (log what would be written)",
        "`soap`（5.x/6.x）、`rest`（7.x）、`dry-run`（書き込む内容をログに出すだけ）")] = "dry-run"
    url: Annotated[str, Key(
        "SOAP base (`…/HinemosWS`) or REST base (`…/HinemosWeb/api`)",
        "SOAP は `…/HinemosWS`、REST は `…/HinemosWeb/api`")] = "http://127.0.0.1:8080/HinemosWS"
    user: Annotated[str, Key("the manager's user", "接続ユーザ")] = "hinemos"
    password_file: Annotated[str | None, Key(
        "its password's file (or the systemd credential `hinemos.password`); never inline",
        "パスワードファイル（または systemd のクレデンシャル `hinemos.password`）。"
        "設定ファイルに直接は書けません")] = "/etc/hinedockd/hinemos.password"
    owner_role_id: Annotated[str, Key(
        "owner role of the nodes and scopes created",
        "作成するノードとスコープのオーナーロール")] = "ALL_USERS"
    container_facility_id: Annotated[str, Key(
        "container nodes' facility ID: a template of `{host}`, `{name}`, `{id}`",
        "コンテナノードのファシリティ ID のテンプレート（`{host}` `{name}` `{id}`）",
        check=_template)] = "{host}-{name}"
    label_scopes: Annotated[tuple[str, ...], Key(
        "glob allow-list for `hinemosAssignScopeId`",
        "`hinemosAssignScopeId` で割り当ててよいスコープ（glob の許可リスト）")] = ("*",)
    full_sync_seconds: Annotated[int, Key(
        "a full pass this often", "全体同期の間隔（秒）", min=10)] = 300
    # Calls to the manager a second, at most, for all hosts together (hinemos/pacer.py)
    max_calls_per_second: Annotated[float, Key(
        "calls to the manager a second at most, all hosts together",
        "マネージャへの 1 秒あたりの呼び出し数の上限（全ホスト合計）", min=0.1)] = 50.0
    timeout_seconds: Annotated[float, Key(
        "one call's limit; a write the manager applies after it is found, not repeated, by "
        "the next pass",
        "1 回の呼び出しの上限（秒）。その後にマネージャが反映した書き込みは次の同期が"
        "見つけ、繰り返しません", min=1)] = 30.0
    customtrap: Annotated[CustomTrapConfig | None, Key(
        "[hinemos.customtrap]", "[hinemos.customtrap]")] = None


@dataclass(frozen=True)
class SyslogTarget:
    target: Annotated[str, Key(
        "`udp://host:port`, `tcp://host:port` or `file:///path` (see \"Syslog and the "
        "journal\")",
        "`udp://host:port`、`tcp://host:port`、`file:///path`（「syslog とジャーナル」）",
        check=_syslog_target)]
    format: Annotated[SyslogFormat, Key(
        "`rfc3164` is the only format Hinemos parses", "Hinemos が読めるのは `rfc3164` だけです",
    )] = "rfc3164"
    facility: Annotated[str, Key(
        "the messages' facility", "メッセージのファシリティ", choices=tuple(FACILITIES))] = "user"
    tcp_framing: Annotated[TcpFraming, Key(
        "TCP: RFC 6587 §3.4.1 octet counting, or a line feed (§3.4.2)",
        "TCP の区切り: RFC 6587 §3.4.1 のオクテットカウント、または改行（§3.4.2）",
    )] = "octet-counting"
    queue_size: Annotated[int, Key(
        "messages waiting for a slow receiver; the rest are dropped and counted",
        "遅い受信側を待つメッセージ数。超えた分は捨てて数えます", min=1)] = 10_000
    # Which engine events go to this target: globs of TYPE.ACTION ("container.*",
    # "image.pull"), and those dropped from them. By default every event but the
    # networks' connect/disconnect, which every start and stop of a container repeats.
    events: Annotated[tuple[str, ...], Key(
        "which engine events go here: globs of TYPE.ACTION (`container.*`, `image.pull`)",
        "この送信先に送るエンジンのイベント: TYPE.ACTION の glob（`container.*`、`image.pull`）",
        check=_event_globs)] = ("*",)
    skip_events: Annotated[tuple[str, ...], Key(
        "and those left out of them (by default the networks' connect and disconnect, which "
        "every start and stop repeats)",
        "そこから除くもの（既定では、起動と停止のたびに繰り返すネットワークの接続・切断）",
        check=_event_globs)] = ("network.connect", "network.disconnect")
    logs: Annotated[bool, Key(
        "containers' own lines (`[logs]`) go to this target too",
        "コンテナ自身の行（`[logs]`）もこの送信先へ送る")] = True
    # (rsyslog takes 8 KiB by default; Hinemos' receiver reads a UDP datagram whole)
    max_message_bytes: Annotated[int, Key(
        "a longer message is cut, with `...` at its end",
        "これより長いメッセージは `...` を付けて切る", min=480, max=65_000)] = 2048

    def wants(self, type_: str, action: str) -> bool:
        """Does this target take the event? (`action` as the engine sends it, the
        part before a ':' counts: `health_status: healthy` is `health_status`)."""
        name = f"{type_}.{action.split(':', 1)[0].strip()}"
        return (any(fnmatchcase(name, g) for g in self.events)
                and not any(fnmatchcase(name, g) for g in self.skip_events))


LogStreams = Literal["both", "stdout", "stderr", "none"]
LOGS_LABEL = "hinedock.logs"  # on a container: true, stdout, stderr or false


@dataclass(frozen=True)
class LogRule:
    """`[[logs.rules]]`: which containers' own output is followed. A container matches
    when its name, its image and each `labels` glob (`KEY=VALUE`) match, on one of
    `hosts` (facility IDs; none: every host); the first rule that matches decides."""

    names: Annotated[tuple[str, ...], Key(
        "globs of the container's name", "コンテナ名の glob", check=_globs)] = ("*",)
    images: Annotated[tuple[str, ...], Key(
        "globs of its image", "イメージの glob", check=_globs)] = ("*",)
    labels: Annotated[tuple[str, ...], Key(
        "`KEY=VALUE` globs, each of which one of its labels matches",
        "`KEY=VALUE` の glob（それぞれにどれかのラベルが合うこと）",
        check=_labels)] = ()
    hosts: Annotated[tuple[str, ...], Key(
        "facility IDs of `[[hosts]]` (none: every host)",
        "`[[hosts]]` のファシリティ ID（なし: すべてのホスト）", check=_globs)] = ()
    streams: Annotated[LogStreams, Key(
        "what the first rule that matches follows",
        "最初に合ったルールが読むもの")] = "both"


@dataclass(frozen=True)
class SeverityPattern:
    """`[[logs.severity_patterns]]`: a line in which `pattern` is found has `severity`."""

    pattern: Annotated[str, Key(
        "an RE2 pattern (the first found in a line decides)",
        "RE2 のパターン（行の中で最初に見つかったものが決めます）", check=_re2)]
    severity: Annotated[str, Key(
        "the line's severity", "その行の重要度", choices=tuple(SEVERITIES))] = "err"


@dataclass(frozen=True)
class LogsConfig:
    """`[logs]`: containers' stdout and stderr to the syslog targets, as lines of
    their container node (HOSTNAME = its 12-character ID). Nothing is followed unless
    selected, by the container's `hinedock.logs` label or by a rule."""

    label: Annotated[bool, Key(
        "a container's own `hinedock.logs` label (`true`, `stdout`, `stderr`, `false`) "
        "selects it",
        "コンテナ自身の `hinedock.logs` ラベル（`true`、`stdout`、`stderr`、`false`）"
        "で選ぶ")] = True
    rules: Annotated[tuple[LogRule, ...], Key(
        "which containers' lines are followed: the first rule whose globs all match (see "
        "\"Containers' own logs\")",
        "どのコンテナの行を読むか。glob がすべて合う最初のルール（「コンテナ自身のログ」）")] = ()
    stdout_severity: Annotated[str, Key(
        "a stdout line's severity", "標準出力の行の重要度", choices=tuple(SEVERITIES))] = "info"
    stderr_severity: Annotated[str, Key(
        "a stderr line's severity", "標準エラー出力の行の重要度",
        choices=tuple(SEVERITIES))] = "notice"
    severity_patterns: Annotated[tuple[SeverityPattern, ...], Key(
        "`[{pattern = \"ERROR\\|FATAL\", severity = \"err\"}]`: the first found decides",
        "`[{pattern = \"ERROR\\|FATAL\", severity = \"err\"}]`: 最初に見つかったものが決めます",
    )] = ()
    # RE2: a line that matches it continues the record before it (a stack trace's
    # `^\s+at `); "" = every line is a record
    continuation: Annotated[str, Key(
        "an RE2 pattern whose lines join the record before (a stack trace); `\"\"`: off",
        "直前のレコードにつなぐ行の RE2 パターン（スタックトレース）。`\"\"` はなし",
        check=_re2_or_empty)] = ""
    max_record_lines: Annotated[int, Key(
        "a record's lines at most", "1 レコードの行数の上限", min=1, max=10_000)] = 100
    join_seconds: Annotated[float, Key(
        "a record still open after this long leaves as it is",
        "この時間を過ぎても開いているレコードはそのまま送ります", min=0.05, max=60)] = 0.5
    lines_per_second: Annotated[float, Key(
        "per container: the rest is dropped and counted",
        "コンテナごとの 1 秒あたりの行数の上限。超えた分は捨てて数えます", min=0.01)] = 100.0
    burst: Annotated[int, Key(
        "lines a container may send at once above that rate",
        "その上限を超えて一度に送れる行数", min=1)] = 1000
    report_seconds: Annotated[int, Key(
        "\"N lines dropped\" at most this often per container",
        "「N 行を捨てた」の通知の間隔（コンテナごと）", min=1)] = 60


# The README's configuration table: each table as the file spells it, in this order.
SECTIONS: tuple[tuple[str, type], ...] = (
    ("[daemon]", DaemonConfig), ("[[hosts]]", HostConfig), ("[hosts.snmp]", SnmpConfig),
    ("[[syslog]]", SyslogTarget), ("[logs]", LogsConfig), ("[[logs.rules]]", LogRule),
    ("[[logs.severity_patterns]]", SeverityPattern), ("[hinemos]", HinemosConfig),
    ("[hinemos.customtrap]", CustomTrapConfig))


def reference_table(lang: Lang) -> str:
    """The README's configuration table in `lang`."""
    return reference(SECTIONS, lang)


@dataclass(frozen=True)
class Config:
    path: str
    daemon: DaemonConfig
    hosts: tuple[HostConfig, ...]
    hinemos: HinemosConfig = field(default_factory=HinemosConfig)
    syslog: tuple[SyslogTarget, ...] = ()
    logs: LogsConfig = field(default_factory=LogsConfig)

    def find_host(self, name: str, port: int | None = None) -> HostConfig:
        """Resolve the report's `-i` (address or facility ID) and `-p` to a host."""
        hits = [h for h in self.hosts if name in (h.facility_id, h.address)]
        if len(hits) > 1 and port is not None:
            hits = [h for h in hits if h.port == port] or hits
        if not hits:
            known = ", ".join(f"{h.facility_id} ({h.address})" for h in self.hosts)
            raise KeyError(f"unknown host {name!r}; configured: {known}")
        return hits[0]


# ---- what spans keys -------------------------------------------------------------------

def _daemon(t: Table) -> DaemonConfig:
    cfg = read(DaemonConfig, t)
    if cfg.default_window_seconds > cfg.retention_seconds:
        t.fail("default_window_seconds", "must not exceed retention_seconds")
    if cfg.restart_loop_seconds > cfg.retention_seconds:
        t.fail("restart_loop_seconds", "must not exceed retention_seconds")
    return cfg


def _host(t: Table, window: int) -> HostConfig:
    """`window`: the daemon's default window, the poll interval unless one is set: a
    window's average needs a sample near each of its ends, and each sample costs the
    engine about 4 ms (bench/README.md §8), so one a window is the least that serves
    the default answer."""
    cfg = read(HostConfig, t, poll_interval_seconds=float(window))
    tls = {"tls_ca": cfg.tls_ca, "tls_cert": cfg.tls_cert, "tls_key": cfg.tls_key}
    if not cfg.url.startswith("https://") and any(tls.values()):
        t.fail("url", "tls_* settings need an https:// URL (tcp:// would talk plain HTTP)")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        t.fail("tls_cert", "tls_cert and tls_key go together")
    for key, path in tls.items():
        if problem := _readable(path):
            t.fail(key, problem)
    return cfg


HINEMOS_URL_FORMS = {"soap": ("/HinemosWS", "http://HOST:8080/HinemosWS (5.x/6.x)"),
                     "rest": ("/HinemosWeb/api", "http://HOST:8080/HinemosWeb/api (7.x)")}


def _hinemos(t: Table) -> HinemosConfig:
    """The base URL of one API given for the other is the usual slip (the default
    URL is the SOAP one): name it. Other paths (a proxy) are the operator's call."""
    if "password" in t.data:
        t.fail("password", "inline passwords are not accepted; use password_file")
    cfg = read(HinemosConfig, t)
    if cfg.api in HINEMOS_URL_FORMS:
        path = cfg.url.split("://", 1)[-1].partition("/")[2].rstrip("/")
        other = "rest" if cfg.api == "soap" else "soap"
        if path and f"/{path}".endswith(HINEMOS_URL_FORMS[other][0]):
            t.fail("url", f"{cfg.url!r} is the {other.upper()} API's base, but api = "
                          f"{cfg.api!r}; for {cfg.api} it is {HINEMOS_URL_FORMS[cfg.api][1]}")
    return cfg


def _logs(t: Table, hosts: set[str]) -> LogsConfig:
    cfg = read(LogsConfig, t)
    for i, rule in enumerate(cfg.rules):
        if unknown := sorted(set(rule.hosts) - hosts):
            Table(t.file, f"logs.rules[{i}]", {}).fail(
                "hosts", f"no [[hosts]] with facility_id {unknown[0]!r}")
    return cfg


def parse_config(text: str, path: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    root = Table(path, "", data)
    daemon = _daemon(root.table("daemon"))
    hosts = tuple(_host(t, daemon.default_window_seconds) for t in root.array("hosts"))
    if not hosts:
        root.fail("hosts", "at least one [[hosts]] entry is required")
    seen: set[str] = set()
    for i, h in enumerate(hosts):
        if h.facility_id in seen:
            raise ConfigError(f"{path}: hosts[{i}].facility_id: duplicate {h.facility_id!r}")
        seen.add(h.facility_id)
    hinemos = _hinemos(root.table("hinemos"))
    syslog = tuple(read(SyslogTarget, t) for t in root.array("syslog"))
    logs = _logs(root.table("logs"), {h.facility_id for h in hosts})
    root.done()
    return Config(path=path, daemon=daemon, hosts=hosts, hinemos=hinemos, syslog=syslog,
                  logs=logs)


def apply_environment(cfg: Config, env: Mapping[str, str]) -> Config:
    """HINEDOCK_SOCKET and HINEDOCK_STATE_DIR override the file (SPEC §8)."""
    daemon = cfg.daemon
    if env.get(SOCKET_ENV):
        daemon = replace(daemon, socket=env[SOCKET_ENV])
    if env.get(STATE_DIR_ENV):
        daemon = replace(daemon, state_dir=env[STATE_DIR_ENV])
    return replace(cfg, daemon=daemon)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8: {e}") from None
    return apply_environment(parse_config(text, str(p)), os.environ if env is None else env)
