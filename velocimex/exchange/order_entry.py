"""OUCH 5.0 order entry over SoupBinTCP, in front of the matching engine.

Each user (SoupBinTCP login) is one OUCH account with its own sequenced stream. Orders are
named by the account's UserRefNum, which must strictly increase (a repeated or lower one on
Enter or Replace is ignored and counted, as the specification prescribes for duplicates).

Replies, in order: Enter -> Accepted, then Executed per fill (liquidity 'R'), then Canceled
'I' for any IOC/market remainder. Cancel -> Canceled 'U' with the shares taken off, or Cancel
Reject 'I' if the UserRefNum is not live. Replace -> Replaced, then fills and IOC-style
cancel as for Enter; a replace naming an order that is not live is ignored and counted.
Executions against a resting order are reported to its owner with liquidity 'A'.
Invalid values get Rejected 'J' with the specification's reason code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from velocimex.exchange.matching import (
    BUY,
    SELL,
    TIF_DAY,
    TIF_IOC,
    Fill,
    MatchingEngine,
    MatchingError,
    OrderResult,
)
from velocimex.wire import ouch
from velocimex.wire.soupbintcp import SoupServer

# OUCH sides T (sell short) and E (sell short exempt) are sells to the book.
_BOOK_SIDE = {"B": BUY, "S": SELL, "T": SELL, "E": SELL}


@dataclass
class _Entered:
    """What the account entered, echoed in Accepted/Replaced messages."""

    side: str
    symbol: str
    price: int
    time_in_force: str
    display: str
    capacity: str
    intermarket_sweep_eligibility: str
    cross_type: str
    cl_ord_id: str
    order_ref: int


@dataclass
class GatewayCounters:
    orders_entered: int = 0
    orders_rejected: int = 0
    cancels: int = 0
    cancel_rejects: int = 0
    replaces: int = 0
    executions_reported: int = 0
    duplicate_user_ref: int = 0
    unknown_order: int = 0
    malformed: int = 0
    unsupported: int = 0
    engine_errors: int = 0
    after_close: int = 0


@dataclass
class _Account:
    last_user_ref: int = 0
    live: dict[int, _Entered] = field(default_factory=dict)


class OuchGateway:
    def __init__(
        self,
        engine: MatchingEngine,
        clock: Callable[[], int],
        session: str,
        credentials: dict[str, str],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.server = SoupServer(session, credentials, self.on_unsequenced)
        self.accounts: dict[str, _Account] = {u: _Account() for u in credentials}
        self.counters = GatewayCounters()
        # Passive fills produced while an OUCH order is being entered are held until that
        # order's Accepted/Replaced has gone out, so an account never sees an execution
        # of its own aggressing order's match before the acknowledgement.
        self._deferred: list[Fill] | None = None
        self.closed = False
        # Optional observer of each valid Enter Order's stock locate (live tick-to-trade).
        self.order_hook: Callable[[int], None] | None = None

    def _send(self, user: str, msg_type: str, options: dict[str, Any] | None = None, **fields):
        # Only options this table knows are echoed; unknown tags were kept raw on decode.
        options = {k: v for k, v in (options or {}).items() if k in ouch.OPTION_BY_NAME}
        self.server.send(
            user,
            ouch.encode(ouch.OUTBOUND, msg_type, options, timestamp=self.clock(), **fields),
        )

    def system_event(self, event_code: str) -> None:
        for user in self.accounts:
            self._send(user, "S", event_code=event_code)

    def close(self) -> None:
        """Stop accepting orders: the market is closing (its last messages are going out)."""
        self.closed = True

    def on_unsequenced(self, user: str, payload: bytes) -> None:
        if self.closed:
            self.counters.after_close += 1
            return
        try:
            msg = ouch.decode(ouch.INBOUND, payload)
        except ouch.OuchError:
            self.counters.malformed += 1
            return
        account = self.accounts.setdefault(user, _Account())
        handler = {"O": self._enter, "U": self._replace, "X": self._cancel}.get(msg["type"])
        if handler is None:
            self.counters.unsupported += 1
            return
        try:
            handler(user, account, msg)
        except MatchingError:
            # Validation above should make this unreachable; never let it kill the session.
            self.counters.engine_errors += 1
        finally:
            if self._deferred is not None:
                self._flush_deferred()

    def _reject(self, user: str, user_ref: int, reason: int, cl_ord_id: str) -> None:
        self.counters.orders_rejected += 1
        self._send(user, "J", user_ref_num=user_ref, reason=reason, cl_ord_id=cl_ord_id)

    def _validate(self, msg: dict[str, Any], allow_market: bool) -> int | None:
        """Reject reason for the quantity/price of an Enter or Replace, None if valid."""
        if not 0 < msg["quantity"] <= ouch.MAX_QUANTITY:
            return ouch.REJECT_INVALID_QUANTITY
        price = msg["price"]
        if price == ouch.MARKET_PRICE:
            return None if allow_market else ouch.REJECT_INVALID_PRICE
        if not 0 < price <= ouch.MAX_LIMIT_PRICE:
            return ouch.REJECT_INVALID_PRICE
        return None

    def _fresh_user_ref(self, account: _Account, user_ref: int) -> bool:
        if user_ref <= account.last_user_ref:
            self.counters.duplicate_user_ref += 1
            return False
        account.last_user_ref = user_ref
        return True

    def _enter(self, user: str, account: _Account, msg: dict[str, Any]) -> None:
        user_ref = msg["user_ref_num"]
        if not self._fresh_user_ref(account, user_ref):
            return
        symbol = msg["symbol"].rstrip()
        reason = self._validate(msg, allow_market=True)
        if reason is None and msg["side"] not in _BOOK_SIDE:
            reason = ouch.REJECT_OTHER
        if reason is None and symbol not in self.engine.locate_by_symbol:
            reason = ouch.REJECT_INVALID_SYMBOL
        if reason is not None:
            self._reject(user, user_ref, reason, msg["cl_ord_id"])
            return
        if self.order_hook is not None:
            self.order_hook(self.engine.locate_by_symbol[symbol])
        market = msg["price"] == ouch.MARKET_PRICE
        attribution = None
        if msg["display"] == "A":
            attribution = (msg["options"].get("firm") or user[:4]).upper()[:4]
        self._deferred = []
        result = self.engine.submit(
            self.engine.locate_by_symbol[symbol],
            _BOOK_SIDE[msg["side"]],
            msg["quantity"],
            None if market else msg["price"],
            tif=TIF_IOC if msg["time_in_force"] == ouch.TIF_IOC else TIF_DAY,
            display=msg["display"] != "N",
            attribution=attribution,
            owner=(user, user_ref),
        )
        self.counters.orders_entered += 1
        entered = _Entered(
            msg["side"],
            msg["symbol"],
            msg["price"],
            msg["time_in_force"],
            msg["display"],
            msg["capacity"],
            msg["intermarket_sweep_eligibility"],
            msg["cross_type"],
            msg["cl_ord_id"],
            result.order.order_ref,
        )
        self._send(
            user,
            "A",
            msg["options"],
            user_ref_num=user_ref,
            quantity=msg["quantity"],
            order_state=ouch.ORDER_STATE_LIVE,
            **self._echo(entered),
        )
        self._flush_deferred()
        self._report(user, account, user_ref, entered, result)

    @staticmethod
    def _echo(entered: _Entered) -> dict[str, Any]:
        return dict(
            side=entered.side,
            symbol=entered.symbol,
            price=entered.price,
            time_in_force=entered.time_in_force,
            display=entered.display,
            order_reference_number=entered.order_ref,
            capacity=entered.capacity,
            intermarket_sweep_eligibility=entered.intermarket_sweep_eligibility,
            cross_type=entered.cross_type,
            cl_ord_id=entered.cl_ord_id,
        )

    def _report(
        self,
        user: str,
        account: _Account,
        user_ref: int,
        entered: _Entered,
        result: OrderResult,
    ) -> None:
        for fill in result.fills:
            self.counters.executions_reported += 1
            self._send(
                user,
                "E",
                user_ref_num=user_ref,
                quantity=fill.shares,
                price=fill.price,
                liquidity_flag=ouch.LIQUIDITY_REMOVED,
                match_number=fill.match_number,
            )
        if result.canceled_shares:
            self._send(
                user,
                "C",
                user_ref_num=user_ref,
                quantity=result.canceled_shares,
                reason=ouch.CANCEL_REASON_IMMEDIATE,
            )
        if result.resting and result.order.shares:
            entered.order_ref = result.order.order_ref
            account.live[user_ref] = entered

    def on_fill(self, fill: Fill) -> None:
        """Engine fill hook: report executions of resting orders to their owners."""
        if self._deferred is not None:
            self._deferred.append(fill)
            return
        self._report_passive(fill)

    def _flush_deferred(self) -> None:
        deferred, self._deferred = self._deferred or [], None
        for fill in deferred:
            self._report_passive(fill)

    def _report_passive(self, fill: Fill) -> None:
        owner = fill.resting.owner
        if not (isinstance(owner, tuple) and len(owner) == 2):
            return
        user, user_ref = owner
        self.counters.executions_reported += 1
        self._send(
            user,
            "E",
            user_ref_num=user_ref,
            quantity=fill.shares,
            price=fill.price,
            liquidity_flag=ouch.LIQUIDITY_ADDED,
            match_number=fill.match_number,
        )
        if fill.resting.shares == 0:
            self.accounts[user].live.pop(user_ref, None)

    def _cancel(self, user: str, account: _Account, msg: dict[str, Any]) -> None:
        user_ref = msg["user_ref_num"]
        entered = account.live.get(user_ref)
        if entered is None:
            self.counters.cancel_rejects += 1
            self._send(user, "I", user_ref_num=user_ref)
            return
        leaves = msg["quantity"]
        canceled = self.engine.cancel(entered.order_ref, leaves)
        self.counters.cancels += 1
        if canceled:
            self._send(
                user,
                "C",
                user_ref_num=user_ref,
                quantity=canceled,
                reason=ouch.CANCEL_REASON_USER,
            )
        if leaves == 0:
            account.live.pop(user_ref, None)

    def _replace(self, user: str, account: _Account, msg: dict[str, Any]) -> None:
        orig_ref = msg["orig_user_ref_num"]
        entered = account.live.get(orig_ref)
        if entered is None:
            self.counters.unknown_order += 1
            return
        user_ref = msg["user_ref_num"]
        if not self._fresh_user_ref(account, user_ref):
            return
        reason = self._validate(msg, allow_market=False)
        if reason is not None:
            self._reject(user, user_ref, reason, msg["cl_ord_id"])
            return
        self._deferred = []
        result = self.engine.replace(
            entered.order_ref,
            msg["quantity"],
            msg["price"],
            display=msg["display"] != "N",
            owner=(user, user_ref),
        )
        self.counters.replaces += 1
        del account.live[orig_ref]
        new = _Entered(
            entered.side,
            entered.symbol,
            msg["price"],
            msg["time_in_force"],
            msg["display"],
            entered.capacity,
            msg["intermarket_sweep_eligibility"],
            entered.cross_type,
            msg["cl_ord_id"],
            result.order.order_ref,
        )
        self._send(
            user,
            "U",
            msg["options"],
            orig_user_ref_num=orig_ref,
            user_ref_num=user_ref,
            quantity=msg["quantity"],
            order_state=ouch.ORDER_STATE_LIVE,
            **self._echo(new),
        )
        self._flush_deferred()
        self._report(user, account, user_ref, new, result)
