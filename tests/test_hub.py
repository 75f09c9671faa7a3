"""The hub: broadcast with a bounded buffer per subscriber, never waiting on one."""

from __future__ import annotations

import trio
import trio.testing

from xpagent.daemon._hub import Hub, Lagged


async def test_every_subscriber_gets_every_item_in_order() -> None:
    """Items published reach all subscribers, in publication order."""
    hub: Hub[int] = Hub(capacity=8)
    with hub.subscribe() as first, hub.subscribe() as second:
        for item in range(5):
            hub.publish(item)
        assert [await first.receive() for _ in range(5)] == [0, 1, 2, 3, 4]
        assert [await second.receive() for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_a_slow_subscriber_is_told_what_it_missed_and_others_go_on() -> None:
    """A full buffer turns into one Lagged with the count; a fast peer loses nothing."""
    hub: Hub[int] = Hub(capacity=3)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        received = []
        for item in range(10):
            hub.publish(item)
            received.append(await fast.receive())
        assert received == list(range(10))
        assert await slow.receive() == Lagged(missed=10)
        hub.publish(10)
        assert await slow.receive() == 10


async def test_publish_never_waits(autojump_clock: trio.testing.MockClock) -> None:
    """Publishing to a subscriber that never reads completes without a checkpoint."""
    hub: Hub[int] = Hub(capacity=1)
    with hub.subscribe(), trio.testing.assert_no_checkpoints():
        for item in range(10_000):
            hub.publish(item)


async def test_receive_waits_for_the_next_item(autojump_clock: trio.testing.MockClock) -> None:
    """A waiting subscriber wakes as soon as an item is published."""
    hub: Hub[str] = Hub()
    received: list[object] = []

    async def reader() -> None:
        with hub.subscribe() as subscription:
            started.set()
            received.append(await subscription.receive())

    started = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await started.wait()
        await trio.sleep(5)
        assert received == []
        hub.publish("hello")
    assert received == ["hello"]


async def test_leaving_the_block_unsubscribes_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A cancelled reader is unsubscribed immediately, with no item flowing."""
    hub: Hub[int] = Hub()

    async def reader(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with hub.subscribe() as subscription:
            task_status.started()
            await subscription.receive()

    async with trio.open_nursery() as nursery:
        await nursery.start(reader)
        assert hub.subscriber_count == 1
        nursery.cancel_scope.cancel()
    assert hub.subscriber_count == 0
