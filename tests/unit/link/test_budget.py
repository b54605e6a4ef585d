"""WindowBudget: bytes spent in any window of time, at most the limit."""

from __future__ import annotations

from gateway.link.budget import BUDGET_WINDOW, WindowBudget


def test_spending_up_to_the_limit_then_refusing() -> None:
    budget = WindowBudget(1000)
    assert budget.fits(0.0, 600)
    budget.spend(0.0, 600)
    assert budget.fits(1.0, 400) and not budget.fits(1.0, 401)
    budget.spend(1.0, 400)
    assert not budget.fits(2.0, 1)


def test_bytes_leave_the_window_after_it_has_passed() -> None:
    budget = WindowBudget(1000)
    budget.spend(0.0, 700)
    budget.spend(10.0, 300)
    assert not budget.fits(BUDGET_WINDOW - 0.001, 1)
    assert budget.fits(BUDGET_WINDOW, 700) and not budget.fits(BUDGET_WINDOW, 701)
    assert budget.fits(10.0 + BUDGET_WINDOW, 1000)


def test_spending_beyond_the_limit_is_counted() -> None:
    budget = WindowBudget(100, window=5.0)
    budget.spend(0.0, 150)  # allowed by the caller (e.g. padding that fills a real slot)
    assert not budget.fits(4.0, 1)
    assert budget.fits(5.0, 100)
