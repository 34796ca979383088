"""A fake of the Hinemos manager's custom trap receiver (カスタムトラップ監視), following
its source (hinemos/hinemos, HinemosManager/src_customtrap/com/clustercontrol/customtrap/):

- `service/CustomTrapMonitorService.java`, `getMsgBody`: the body is read line by line
  and joined without separators, up to the first empty line (or the end);
- `parseCustomTrap`: Jackson reads `{"FacilityID", "DATA"}` (`bean/CustomTraps.java`);
  a body it cannot read, or one without a `DATA` list, raises an exception the handler
  does not catch as a parse error: the manager logs it and closes the connection
  without any answer. An item without `KEY` or `MSG`, of a `TYPE` other than num or
  string (any case), or a `num` whose `MSG` is not a decimal (`new BigDecimal`) is
  dropped. A `DATE` that `yyyy-MM-dd HH:mm:ss` cannot parse fails the whole body:
  `400 Bad Request`. No `DATE`: the time of receipt. Otherwise 200 with an empty body;
- `service/ReceivedCustomTrapFilter.java`, `work`: `FacilityID` names a node (a scope
  is ignored with a warning: nothing of the body is kept), an unknown ID is taken as
  `UNREGISTERED`; no `FacilityID`: the sender's address picks the nodes.

- `bean/CustomTrap.java`: the item's four `@JsonProperty` fields and no others; TYPE
  through `Type.fromString` (lower-cased `num`/`string`, anything else null: dropped);
  a plain `ObjectMapper` (CustomTrapMonitorService) fails on an unknown field, so a
  body with one is unreadable (hang-up, as above);
- `ReceivedCustomTrapFilter.work`, the `NUM` case: a second `num` item of one body
  with the same node, KEY and sampled time (the monitor's too, which is one here) is
  not collected again ("keyの重複チェック"): counted in `duplicates`, not kept.

What was kept is in `received`, per node.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from hinedockd.testing.server import FakeServer

TOP_FIELDS = {"FacilityID", "DATA"}
ITEM_FIELDS = {"DATE", "TYPE", "KEY", "MSG"}
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")  # BigDecimal(String)


@dataclass(frozen=True)
class Received:
    facility_id: str
    type: str  # "num" or "string"
    key: str
    msg: str
    sampled: datetime | None  # None: the time of receipt


class FakeCustomTrapManager(FakeServer):
    def __init__(self, path: str = "/") -> None:
        super().__init__()
        self.path = path
        self.nodes: set[str] = set()  # the repository's node IDs
        self.scopes: set[str] = set()
        self.addresses: dict[str, list[str]] = {}  # IP -> node IDs
        self.answer: int | None = None  # a fault: answer every request with this status
        self.received: list[Received] = []
        self.requests = 0
        self.closed = 0  # requests the manager closed without an answer
        self.bad_requests = 0
        self.duplicates = 0  # num items of a body repeating a node, KEY and DATE
        # Per DATE of the bodies kept: first and last receipt (monotonic) and bodies,
        # for the benchmark (a round of the daemon's pushes shares one DATE).
        self.rounds: dict[str, list[float]] = {}
        self.app.add_routes([web.post(self.path, self._post),
                             web.get("/_stats", self._stats)])

    @property
    def url(self) -> str:
        return self.base_url() + self.path

    def items(self, facility_id: str, key: str | None = None) -> list[Received]:
        return [r for r in self.received
                if r.facility_id == facility_id and (key is None or r.key == key)]

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.answer is not None:
            return web.Response(status=self.answer, text=f"{self.answer}")
        raw = (await request.read()).decode("utf-8", "replace")
        text = "".join(_lines_until_empty(raw))
        try:
            doc = orjson.loads(text)
            if not (isinstance(doc, dict) and set(doc) <= TOP_FIELDS
                    and isinstance(doc.get("DATA"), list)):
                raise ValueError("no DATA list")
            items = [_item(i) for i in doc["DATA"]]
        except ValueError:  # orjson's error is one: the manager logs and hangs up
            self.closed += 1
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the sender
        except _BadDate:
            self.bad_requests += 1
            return web.Response(status=400, text="400 Bad Request")
        self._keep(doc.get("FacilityID"), request.remote or "", [i for i in items if i])
        date = str(doc["DATA"][0].get("DATE")) if doc["DATA"] else ""
        now = time.monotonic()
        first, _last, n = self.rounds.get(date, [now, now, 0])
        self.rounds[date] = [first, now, n + 1]
        return web.Response(status=200)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests, "items": len(self.received),
                                  "closed": self.closed, "bad_requests": self.bad_requests,
                                  "duplicates": self.duplicates,
                                  "rounds": self.rounds})

    def _keep(self, facility_id: Any, sender: str, items: list[Received]) -> None:
        if isinstance(facility_id, str) and facility_id:
            if facility_id in self.scopes:
                return  # "Scope is set to FacilityID": the whole body is ignored
            targets = [facility_id if facility_id in self.nodes else "UNREGISTERED"]
        else:
            targets = self.addresses.get(sender) or ["UNREGISTERED"]
        now = datetime.now().replace(microsecond=0)
        for target in targets:
            seen: set[tuple[str, datetime]] = set()
            for i in items:
                if i.type == "num":
                    if (i.key, i.sampled or now) in seen:
                        self.duplicates += 1
                        continue
                    seen.add((i.key, i.sampled or now))
                self.received.append(Received(target, i.type, i.key, i.msg, i.sampled))


class _BadDate(Exception):
    pass


def _lines_until_empty(raw: str) -> list[str]:
    out = []
    for line in raw.splitlines():
        if not line:
            break
        out.append(line)
    return out


def _item(doc: Any) -> Received | None:
    if not isinstance(doc, dict) or not set(doc) <= ITEM_FIELDS:
        raise ValueError("unreadable item")
    sampled = None
    if doc.get("DATE"):
        try:
            sampled = datetime.strptime(str(doc["DATE"]), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise _BadDate from None
    key, msg, kind = doc.get("KEY"), doc.get("MSG"), str(doc.get("TYPE") or "").lower()
    if not key or not msg or kind not in ("num", "string"):
        return None
    if kind == "num":
        try:
            if not _DECIMAL.match(str(msg)):
                return None
            Decimal(str(msg))
        except InvalidOperation:
            return None
    return Received("", kind, str(key), str(msg), sampled)
