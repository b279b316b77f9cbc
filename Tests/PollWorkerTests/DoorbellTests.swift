import Foundation
import Models
import Testing

@testable import PollWorker

@Suite("Doorbell")
struct DoorbellTests {
    @Test("A ring before wait is remembered, so wait returns at once", .timeLimit(.minutes(1)))
    func ringBeforeWait() async {
        let bell = Doorbell()
        bell.ring()
        await bell.wait()
    }

    @Test("Several rings before a wait are one remembered ring", .timeLimit(.minutes(1)))
    func ringsCoalesce() async {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        await bell.wait()
        // The second ring was absorbed by the first, so this wait ends at its timeout.
        await bell.wait(timeout: .milliseconds(10), clock: ContinuousClock())
    }

    @Test("A ring wakes a waiting task, whichever comes first", .timeLimit(.minutes(1)))
    func ringWakesWaiter() async {
        let bell = Doorbell()
        let waiter = Task { await bell.wait() }
        bell.ring()
        await waiter.value
    }

    @Test("wait(timeout:) returns when the timeout passes without a ring", .timeLimit(.minutes(1)))
    func timeoutReturns() async {
        let bell = Doorbell()
        await bell.wait(timeout: .milliseconds(20), clock: ContinuousClock())
    }

    @Test("wait(timeout:) returns on a ring remembered from before", .timeLimit(.minutes(1)))
    func timeoutWithRing() async {
        let bell = Doorbell()
        bell.ring()
        await bell.wait(timeout: .seconds(3600), clock: ContinuousClock())
    }

    @Test("A cancelled waiting task returns", .timeLimit(.minutes(1)))
    func cancelledWaiterReturns() async {
        let bell = Doorbell()
        let waiter = Task { await bell.wait() }
        waiter.cancel()
        await waiter.value
    }

    @Test("A task cancelled before it waits does not wait at all", .timeLimit(.minutes(1)))
    func cancelledBeforeWaiting() async {
        let bell = Doorbell()
        let gate = Doorbell()
        let waiter = Task {
            await gate.wait()
            await bell.wait()
        }
        waiter.cancel()
        gate.ring()
        await waiter.value
    }
}
