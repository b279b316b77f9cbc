import Foundation
import Models
import Testing

@testable import PollWorker

@Suite("JournalKeys: a new claim needs no lookup")
struct JournalKeysTests {
    @Test("Unfilled it answers maybe; filled, only refs of rows or inserts; it asks to refill once doubled")
    func superset() {
        var keys = JournalKeys()
        let old = JobRef(jobId: "old", attempt: 1)
        let new = JobRef(jobId: "new", attempt: 2)
        #expect(keys.needsFill)
        #expect(keys.mayHold(new))
        keys.fill([old])
        #expect(!keys.needsFill)
        #expect(keys.mayHold(old))
        #expect(!keys.mayHold(new))
        #expect(!keys.mayHold(JobRef(jobId: "old", attempt: 2)))
        keys.insert(new)
        #expect(keys.mayHold(new))
        // Filled with one row, it refills past 2 × 1 + slack refs: it holds 2 now.
        for index in 0..<JournalKeys.slack { keys.insert(JobRef(jobId: "job-\(index)", attempt: 1)) }
        let atTheLimit = keys.needsFill
        #expect(!atTheLimit)
        keys.insert(JobRef(jobId: "one-more", attempt: 1))
        let pastIt = keys.needsFill
        #expect(pastIt)
    }

    @Test("The store finds every row: from before it opened, claimed, rejected and finished since; none else")
    func storeLookups() throws {
        let directory = makeStateDirectory()
        let before = makeJob("before", vm: "a")
        try makeStore(directory: directory).journalClaimed([before], rejected: [], at: fixedNow)
        let store = try makeStore(directory: directory)
        #expect(try store.entry(before.ref) == .claimed)
        #expect(try store.entry(JobRef(jobId: "never", attempt: 1)) == nil)
        // Written after the first lookup filled the set.
        let claimed = makeJob("claimed", vm: "a")
        let started = makeJob("started", vm: "b")
        let rejected = makeResult(makeJob("rejected", vm: nil), .rejected)
        try store.journalClaimed([claimed, started], started: [started.ref], rejected: [rejected], at: fixedNow)
        let finished = makeResult(makeJob("finished", vm: nil))
        try store.finish(finished, at: fixedNow)
        #expect(try store.entry(claimed.ref) == .claimed)
        #expect(try store.entry(started.ref) == .started)
        #expect(try store.entry(rejected.ref) == .finished(rejected))
        #expect(try store.entry(finished.ref) == .finished(finished))
        #expect(try store.entry(JobRef(jobId: "claimed", attempt: 2)) == nil)
    }
}
