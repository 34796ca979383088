"""The report's repository commands (§2.1.3-2.3.3): one pass of one kind for one host.

    RepositoryDockerNodeAdd.py [-i IP_ADDRESS] [-p DOCKER_PORT] [-m HINEMOS_URL]
                               [-f HOST_FACILITY_ID]
    RepositoryDockerNodeDelete.py (same options)
    RepositoryDockerNodeUpdate.py (same options)

For operators who bootstrap by hand or keep their cron jobs: the daemon does all
three continuously. The Hinemos API, user and password come from the daemon's
config (`--config`, default /etc/hinedockd/config.toml); `-m` overrides the URL.
Progress is printed as the report's scripts printed it; exit 0, or 1 on error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from hinedockd.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    HinemosConfig,
    HostConfig,
    load_config,
)
from hinedockd.docker.engine import LIST_MAX_BYTES, Engine, EngineError
from hinedockd.docker.inventory import parse_list
from hinedockd.hinemos.backend import HinemosError, HinemosUnavailable
from hinedockd.hinemos.factory import make_backend
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.model import Container

KINDS = {"add": ("RepositoryDockerNodeAdd.py", "作成します"),
         "delete": ("RepositoryDockerNodeDelete.py", "削除します"),
         "update": ("RepositoryDockerNodeUpdate.py", "更新します")}
PROGRESS = {"scope created": "スコープ {} を作成しました。",
            "node added": "ノード {} を作成しました。",
            "node updated": "ノード {} を更新しました。",
            "node deleted": "ノード {} を削除しました。"}


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", dest="ip", default="127.0.0.1", metavar="IP_ADDRESS",
                   help="Docker host address (default 127.0.0.1)")
    p.add_argument("-p", dest="port", type=int, default=2375, metavar="DOCKER_PORT",
                   help="Docker Remote API port (default 2375)")
    p.add_argument("-m", dest="url", metavar="HINEMOS_URL",
                   help="Hinemos web service base, e.g. http://127.0.0.1:8080/HinemosWS")
    p.add_argument("-f", dest="facility_id", metavar="HOST_FACILITY_ID",
                   help="the Docker host's facility ID (default: from the config)")
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="the daemon's config")
    return p


def _target(cfg: Config | None, args: argparse.Namespace) -> tuple[HostConfig, HinemosConfig]:
    host = None
    if cfg is not None:
        try:
            host = cfg.find_host(args.facility_id or args.ip, args.port)
        except KeyError:
            host = None
    if host is None:
        if not args.facility_id:
            raise ConfigError(f"no configured host matches -i {args.ip}; give -f "
                              "HOST_FACILITY_ID")
        host = HostConfig(facility_id=args.facility_id, url=f"tcp://{args.ip}:{args.port}",
                          address=args.ip)
    hinemos = cfg.hinemos if cfg is not None else HinemosConfig(api="soap")
    if hinemos.api == "dry-run" and args.url:
        hinemos = dataclasses.replace(hinemos, api="soap")
    if args.url:
        hinemos = dataclasses.replace(hinemos, url=args.url)
    return host, hinemos


async def _containers(host: HostConfig, kind: str) -> list[Container]:
    """The host's containers. One that cannot be read (a state text the daemon does
    not know) is not absent: a delete run refuses rather than delete its node."""
    engine = Engine(host)
    try:
        await engine.negotiate()
        items = await engine.get_json("containers/json", {"all": "1"}, limit=LIST_MAX_BYTES)
    finally:
        await engine.close()
    listing = parse_list(items)
    for cid, why in listing.unreadable.items():
        print(f"コンテナ {cid[:12]} の情報を読めません: {why}", file=sys.stderr)
    if listing.unreadable and kind == "delete":
        raise EngineError(f"{host.facility_id}: {len(listing.unreadable)} container(s) could "
                          "not be read; nothing is deleted (run again once they settle)")
    return listing.containers


def _progress(what: str, facility_id: str) -> None:
    if what in PROGRESS:
        print(PROGRESS[what].format(facility_id))
    elif what.startswith("assigned to "):
        print(f"{facility_id} を {what.removeprefix('assigned to ')} スコープへ割当てました。")


async def _run(kind: str, host: HostConfig, hinemos: HinemosConfig) -> None:
    print("開始しました。")
    print("Hinemos マネージャにログインしています。")
    endpoint = (f"{hinemos.url.rstrip('/')}/RepositoryEndpoint?wsdl" if hinemos.api == "soap"
                else hinemos.url)
    print(f"endpoint: {endpoint} username: {hinemos.user}")
    backend = make_backend(hinemos)
    await backend.start()
    try:
        print("Docker コンテナの情報を取得します。")
        containers = await _containers(host, kind)
        for c in containers:
            print(f"Id:{c.short_id} Name:{c.name} Status:{c.state}")
        print(f"Docker コンテナノードを{KINDS[kind][1]}。")
        reconciler = Reconciler(backend, hinemos, frozenset({kind}), _progress)
        result = await reconciler.reconcile(host, containers)
        for w in result.warnings:
            print(f"警告: {w}")
        print(f"終了しました。(書き込み {result.writes} 件)")
    finally:
        await backend.close()


def main(kind: str, argv: list[str] | None = None) -> int:
    prog = KINDS[kind][0]
    args = _parser(prog).parse_args(argv)
    try:
        cfg = load_config(args.config) if Path(args.config).exists() else None
        host, hinemos = _target(cfg, args)
        asyncio.run(_run(kind, host, hinemos))
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except (HinemosError, HinemosUnavailable, EngineError) as e:
        print(f"{prog}: 失敗しました: {e}", file=sys.stderr)
        return 1
    return 0


def add(argv: list[str] | None = None) -> int:
    return main("add", argv)


def delete(argv: list[str] | None = None) -> int:
    return main("delete", argv)


def update(argv: list[str] | None = None) -> int:
    return main("update", argv)
