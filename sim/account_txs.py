# Account transactions of the simulated engine: update leverage, update (isolated) margin, withdraw.
# Rules: as in order_txs, `plan_*` validates without side effects and returns an ErrorCode or an
# Execute callable. Margin mode is recorded per market; margin is always checked on the whole account
# (cross), and isolated allocations are bookkeeping only.
from __future__ import annotations

from sim.accounts import Account
from sim.engine_state import EngineState
from sim.engine_types import ErrorCode, MarginDirection, UpdateLeverageTx, UpdateMarginTx, WithdrawTx
from sim.markets import MARGIN_FRACTION_ONE
from sim.order_txs import Plan


def available_balance(state: EngineState, account: Account) -> int:
    return max(0, state.equity(account) - state.initial_margin(account))


def plan_update_leverage(state: EngineState, account: Account, tx: UpdateLeverageTx) -> Plan:
    spec = state.markets.get(tx.market_index)
    if spec is None:
        return ErrorCode.INVALID_MARKET_INDEX
    if not spec.min_initial_margin_fraction <= tx.initial_margin_fraction <= MARGIN_FRACTION_ONE:
        return ErrorCode.INVALID_TX_INFO
    before = state.initial_margin(account)
    after = state.initial_margin(account, market_id=spec.market_id, imf_override=tx.initial_margin_fraction)
    if after > before and after > state.equity(account):
        return ErrorCode.NOT_ENOUGH_MARGIN

    def execute(_tx_hash: str) -> None:
        position = account.position(spec)
        position.initial_margin_fraction = tx.initial_margin_fraction
        position.margin_mode = tx.margin_mode
        state.note_account(account.index, spec.market_id)

    return execute


def plan_update_margin(state: EngineState, account: Account, tx: UpdateMarginTx) -> Plan:
    spec = state.markets.get(tx.market_index)
    if spec is None:
        return ErrorCode.INVALID_MARKET_INDEX
    if tx.usdc_amount <= 0:
        return ErrorCode.INVALID_TX_INFO
    position = account.positions.get(spec.market_id)
    allocated = position.allocated_margin if position is not None else 0
    if tx.direction == MarginDirection.ADD_COLLATERAL:
        if tx.usdc_amount > available_balance(state, account):
            return ErrorCode.NOT_ENOUGH_COLLATERAL
    elif tx.usdc_amount > allocated:
        return ErrorCode.NOT_ENOUGH_COLLATERAL
    sign = 1 if tx.direction == MarginDirection.ADD_COLLATERAL else -1

    def execute(_tx_hash: str) -> None:
        account.position(spec).allocated_margin += sign * tx.usdc_amount
        state.note_account(account.index, spec.market_id)

    return execute


def plan_withdraw(state: EngineState, account: Account, tx: WithdrawTx) -> Plan:
    if tx.usdc_amount <= 0:
        return ErrorCode.INVALID_TX_INFO
    if tx.usdc_amount > available_balance(state, account):
        return ErrorCode.NOT_ENOUGH_COLLATERAL

    def execute(_tx_hash: str) -> None:
        account.collateral -= tx.usdc_amount
        state.note_account(account.index)

    return execute
