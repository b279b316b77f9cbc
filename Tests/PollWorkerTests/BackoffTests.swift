import Foundation
import Models
import Testing

@testable import PollWorker

/// Backoff whose jitter always picks the ceiling.
private func ceilingBackoff() -> Backoff {
    Backoff(random: { ceiling in ceiling })
}

@Suite("Backoff")
struct BackoffTests {
    @Test("At full jitter the delays double from 1 s and stop at 60 s")
    func doublesUpToCap() {
        var backoff = ceilingBackoff()
        var delays: [Duration] = []
        for _ in 0..<9 {
            delays.append(backoff.nextDelay())
        }
        let seconds: [Int64] = [1, 2, 4, 8, 16, 32, 60, 60, 60]
        #expect(delays == seconds.map { Duration.seconds($0) })
        #expect(backoff.consecutiveFailures == 9)
    }

    @Test("Many failures stay at the cap")
    func staysAtCap() {
        var backoff = ceilingBackoff()
        var delays: [Duration] = []
        for _ in 0..<100 {
            delays.append(backoff.nextDelay())
        }
        #expect(delays.last == .seconds(60))
        #expect(delays.allSatisfy { $0 <= Duration.seconds(60) })
    }

    @Test("reset() starts again from 1 s")
    func resetRestarts() {
        var backoff = ceilingBackoff()
        for _ in 0..<5 {
            _ = backoff.nextDelay()
        }
        backoff.reset()
        #expect(backoff.consecutiveFailures == 0)
        let first = backoff.nextDelay()
        let second = backoff.nextDelay()
        #expect(first == .seconds(1))
        #expect(second == .seconds(2))
    }

    @Test("With jitter at zero every delay is zero")
    func zeroJitter() {
        var backoff = Backoff(random: { _ in 0 })
        var delays: [Duration] = []
        for _ in 0..<8 {
            delays.append(backoff.nextDelay())
        }
        #expect(delays == [Duration](repeating: .zero, count: 8))
    }

    @Test("The jitter is drawn below the ceiling it is given")
    func jitterCeilings() {
        let ceilings = Collected<Double>()
        var backoff = Backoff(random: { ceiling in
            ceilings.append(ceiling)
            return ceiling / 2
        })
        let first = backoff.nextDelay()
        let second = backoff.nextDelay()
        #expect(first == .milliseconds(500))
        #expect(second == .seconds(1))
        #expect(ceilings.all == [1, 2])
    }

    @Test("A refused key waits at least 60 s, whatever the jitter")
    func refusedWaitsLong() {
        let refused = ControlPlaneError(.refused, status: 401, message: "bad key")
        var low = Backoff(random: { _ in 0 })
        let lowDelay = low.delay(for: refused)
        #expect(lowDelay == .seconds(60))
        var high = ceilingBackoff()
        let highDelay = high.delay(for: refused)
        #expect(highDelay >= Duration.seconds(60))
        #expect(highDelay <= Duration.seconds(120))
        #expect(high.consecutiveFailures == 1)
    }

    @Test("Throttling honours Retry-After as a minimum")
    func throttledHonoursRetryAfter() {
        let throttled = ControlPlaneError(.throttled(retryAfter: .seconds(90)), status: 429, message: "slow down")
        var high = ceilingBackoff()
        let highDelay = high.delay(for: throttled)
        #expect(highDelay >= Duration.seconds(90))
        var low = Backoff(random: { _ in 0 })
        let lowDelay = low.delay(for: throttled)
        #expect(lowDelay == .seconds(90))
    }

    @Test("Throttling without Retry-After and transient errors use the ordinary back-off")
    func ordinaryErrors() {
        var backoff = ceilingBackoff()
        let busy = backoff.delay(for: ControlPlaneError(.throttled(retryAfter: nil), status: 503, message: "busy"))
        let lost = backoff.delay(for: ControlPlaneError(.transient, message: "connection lost"))
        #expect(busy == .seconds(1))
        #expect(lost == .seconds(2))
        #expect(backoff.consecutiveFailures == 2)
    }
}

@Suite("RetryAfter")
struct RetryAfterTests {
    @Test("Delay-seconds parse as seconds")
    func delaySeconds() {
        #expect(RetryAfter.parse("120", now: fixedNow) == Duration.seconds(120))
        #expect(RetryAfter.parse(" 7 ", now: fixedNow) == Duration.seconds(7))
        #expect(RetryAfter.parse("0", now: fixedNow) == Duration.zero)
    }

    @Test("An HTTP-date 30 s after now is 30 s")
    func httpDate() {
        // fixedNow is Fri, 27 Nov 2026 08:00:30 GMT.
        #expect(RetryAfter.parse("Fri, 27 Nov 2026 08:01:00 GMT", now: fixedNow) == Duration.seconds(30))
    }

    @Test("An HTTP-date made with the RFC 9110 format is read back exactly")
    func formattedHTTPDate() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let text = formatter.string(from: fixedNow.addingTimeInterval(45))
        #expect(RetryAfter.parse(text, now: fixedNow) == Duration.seconds(45))
    }

    @Test("An HTTP-date in the past means no wait")
    func pastDate() {
        #expect(RetryAfter.parse("Fri, 27 Nov 2026 07:59:30 GMT", now: fixedNow) == Duration.zero)
    }

    @Test("Garbage and negative numbers are not a Retry-After", arguments: ["soon", "", "-5", "1.5", "Friday"])
    func garbage(value: String) {
        #expect(RetryAfter.parse(value, now: fixedNow) == nil)
    }
}
