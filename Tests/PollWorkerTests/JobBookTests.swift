import Foundation
import Models
import Testing

@testable import PollWorker

private func rejection(_ id: String?, attempt: Int? = 1) -> JobDecoding {
    .invalid(
        JobRejection(
            id: id, attempt: attempt, type: "create_vm",
            error: JobValidationError(field: "vmName", reason: "must not be empty")))
}

@Suite("JobBook: admission, capacity and duplicates")
struct JobBookAdmissionTests {
    @Test("Capacity is the limit minus the jobs not yet finished")
    func capacity() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        #expect(await book.capacity == 3)
        let first = makeJob("job-1", vm: "a")
        let second = makeJob("job-2", vm: nil)
        let admitted = await book.admit([.valid(first), .valid(second)], now: fixedNow)
        #expect(admitted == [first, second])
        #expect(await book.capacity == 1)
        #expect(await book.unfinishedCount == 2)
        #expect(await book.isIdle == false)

        await book.finish(makeResult(first))
        #expect(await book.capacity == 2)

        await book.finish(makeResult(second))
        #expect(await book.capacity == 3)
        #expect(await book.isIdle)
        // Finished but not yet accepted: still held, still to be reported.
        #expect(await book.heldRefs == [first.ref, second.ref])
        #expect(await book.pendingResultCount == 2)
    }

    @Test("Capacity never goes below zero")
    func capacityFloor() async {
        let book = JobBook(maxConcurrent: 1, bells: [])
        let jobs = [makeJob("job-1", vm: nil), makeJob("job-2", vm: nil)]
        let decodings = jobs.map(JobDecoding.valid)
        #expect(await book.admit(decodings, now: fixedNow) == jobs)
        #expect(await book.capacity == 0)
    }

    @Test("A rejected delivery becomes a pending rejected result at once and is not run")
    func rejectionBecomesResult() async throws {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let decoding = rejection("bad-1", attempt: 2)
        let admitted = await book.admit([decoding], now: fixedNow)
        #expect(admitted.isEmpty)

        let pending = await book.pendingResults(limit: 10)
        #expect(pending.count == 1)
        let result = try #require(pending.first)
        #expect(result.ref == JobRef(jobId: "bad-1", attempt: 2))
        #expect(result.status == .rejected)
        #expect(result.type == "create_vm")
        #expect(result.error == WireError(code: .invalidJob, message: "vmName: must not be empty"))
        #expect(result.startedAt == fixedNow)
        #expect(result.finishedAt == fixedNow)
        #expect(await book.heldRefs == [JobRef(jobId: "bad-1", attempt: 2)])
        #expect(await book.capacity == 3)
        #expect(await book.producedStatuses == [.rejected: 1])
    }

    @Test("A rejected delivery without an id is dropped")
    func rejectionWithoutID() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        #expect(await book.admit([rejection(nil), rejection("")], now: fixedNow).isEmpty)
        #expect(await book.pendingResultCount == 0)
        #expect(await book.heldRefs.isEmpty)
    }

    @Test("A duplicate of a waiting job is not returned again")
    func duplicateWaiting() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let job = makeJob("job-1", vm: "a")
        #expect(await book.admit([.valid(job)], now: fixedNow) == [job])
        #expect(await book.admit([.valid(job)], now: fixedNow).isEmpty)
        #expect(await book.heldRefs == [job.ref])
    }

    @Test("A duplicate within one claim reply is returned once")
    func duplicateInOneReply() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let job = makeJob("job-1", vm: "a")
        #expect(await book.admit([.valid(job), .valid(job)], now: fixedNow) == [job])
    }

    @Test("A duplicate of a running job is not returned again")
    func duplicateRunning() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let job = makeJob("job-1", vm: "a")
        #expect(await book.admit([.valid(job)], now: fixedNow) == [job])
        await book.waitTurn(job.ref)
        #expect(await book.admit([.valid(job)], now: fixedNow).isEmpty)
    }

    @Test("A duplicate of a finished job is not returned again and its result is not duplicated")
    func duplicateFinished() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let job = makeJob("job-1", vm: "a")
        #expect(await book.admit([.valid(job)], now: fixedNow) == [job])
        await book.waitTurn(job.ref)
        let result = makeResult(job)
        await book.finish(result)
        #expect(await book.admit([.valid(job)], now: fixedNow).isEmpty)
        #expect(await book.pendingResults(limit: 10) == [result])
    }

    @Test("A duplicate of an accepted job is not run; its stored result goes back into the outbox")
    func duplicateAccepted() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let job = makeJob("job-1", vm: "a")
        #expect(await book.admit([.valid(job)], now: fixedNow) == [job])
        await book.waitTurn(job.ref)
        let result = makeResult(job, .failed)
        await book.finish(result)
        await book.accepted(["job-1"])
        #expect(await book.heldRefs.isEmpty)
        #expect(await book.pendingResults(limit: 10).isEmpty)

        #expect(await book.admit([.valid(job)], now: fixedNow).isEmpty)
        #expect(await book.pendingResults(limit: 10) == [result])
        #expect(await book.heldRefs == [job.ref])
        // Resending is not producing again.
        #expect(await book.producedStatuses == [.failed: 1])
    }

    @Test("A duplicate of an accepted rejection is answered with the stored result")
    func duplicateAcceptedRejection() async throws {
        let book = JobBook(maxConcurrent: 3, bells: [])
        #expect(await book.admit([rejection("bad-1")], now: fixedNow).isEmpty)
        let stored = try #require(await book.pendingResults(limit: 1).first)
        await book.accepted(["bad-1"])
        #expect(await book.admit([rejection("bad-1")], now: fixedNow.addingTimeInterval(60)).isEmpty)
        #expect(await book.pendingResults(limit: 10) == [stored])
    }

    @Test("The same id with the next attempt is a new job")
    func nextAttempt() async {
        let book = JobBook(maxConcurrent: 3, bells: [])
        let first = makeJob("job-1", attempt: 1, vm: "a")
        let second = makeJob("job-1", attempt: 2, vm: "a")
        #expect(await book.admit([.valid(first)], now: fixedNow) == [first])
        #expect(await book.admit([.valid(second)], now: fixedNow) == [second])

        await book.finish(makeResult(first))
        await book.finish(makeResult(second))
        await book.accepted(["job-1"])
        let third = makeJob("job-1", attempt: 3, vm: "a")
        #expect(await book.admit([.valid(third)], now: fixedNow) == [third])
    }

    @Test("Admitting, finishing and accepting ring the bells", .timeLimit(.minutes(1)))
    func ringsBells() async {
        let bell = Doorbell()
        let book = JobBook(maxConcurrent: 3, bells: [bell])
        let job = makeJob("job-1", vm: nil)
        #expect(await book.admit([.valid(job)], now: fixedNow) == [job])
        await bell.wait()
        await book.finish(makeResult(job))
        await bell.wait()
        await book.accepted([job.id])
        await bell.wait()
    }
}

@Suite("JobBook: per-VM order, results, leases")
struct JobBookOrderTests {
    @Test("A job on another VM and the head of a VM's queue run at once", .timeLimit(.minutes(1)))
    func headsRunAtOnce() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        let a1 = makeJob("a1", vm: "a")
        let a2 = makeJob("a2", vm: "a")
        let b1 = makeJob("b1", vm: "b")
        let listing = makeJob("list", vm: nil)
        #expect(await book.admit([.valid(a1), .valid(a2), .valid(b1), .valid(listing)], now: fixedNow).count == 4)
        await book.waitTurn(b1.ref)
        await book.waitTurn(a1.ref)
        await book.waitTurn(listing.ref)
    }

    @Test("The second job on a VM waits until the first finishes", .timeLimit(.minutes(1)))
    func secondJobWaits() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        let a1 = makeJob("a1", vm: "a")
        let a2 = makeJob("a2", vm: "a")
        let b1 = makeJob("b1", vm: "b")
        #expect(await book.admit([.valid(a1), .valid(a2), .valid(b1)], now: fixedNow) == [a1, a2, b1])
        await book.waitTurn(a1.ref)
        await book.waitTurn(b1.ref)

        let events = EventLog()
        let started = Doorbell()
        let a2Ref = a2.ref
        let waiter = Task {
            started.ring()
            await book.waitTurn(a2Ref)
            await events.append("a2 may run")
        }
        await started.wait()

        // Before a1 finishes, a2 has not been let through and is still held.
        #expect(await events.entries.isEmpty)
        #expect(await book.heldRefs.contains(a2.ref))
        // b1 finishing does not release a2: it is on another VM.
        await book.finish(makeResult(b1))
        #expect(await events.entries.isEmpty)

        await events.append("a1 finished")
        await book.finish(makeResult(a1))
        await waiter.value
        #expect(await events.entries == ["a1 finished", "a2 may run"])
    }

    @Test("Results come out in completion order, up to the limit")
    func pendingOrder() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        let jobs = ["j1", "j2", "j3"].map { makeJob($0, vm: nil) }
        let decodings = jobs.map(JobDecoding.valid)
        #expect(await book.admit(decodings, now: fixedNow) == jobs)
        let results = [makeResult(jobs[2]), makeResult(jobs[0]), makeResult(jobs[1], .failed)]
        for result in results {
            await book.finish(result)
        }
        #expect(await book.pendingResults(limit: 10) == results)
        #expect(await book.pendingResults(limit: 2) == Array(results.prefix(2)))
        #expect(await book.pendingResultCount == 3)
    }

    @Test("accepted removes the job from the held list and the outbox")
    func acceptedForgets() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        let first = makeJob("j1", vm: "a")
        let second = makeJob("j2", vm: "b")
        #expect(await book.admit([.valid(first), .valid(second)], now: fixedNow) == [first, second])
        await book.finish(makeResult(first))
        await book.finish(makeResult(second))

        await book.accepted(["j1", "unknown-id"])
        #expect(await book.heldRefs == [second.ref])
        #expect(await book.pendingResults(limit: 10) == [makeResult(second)])

        await book.accepted([])
        #expect(await book.pendingResultCount == 1)
    }

    @Test("accepted does not forget a job that has no result yet")
    func acceptedIgnoresRunning() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        let job = makeJob("j1", vm: "a")
        #expect(await book.admit([.valid(job)], now: fixedNow) == [job])
        await book.accepted(["j1"])
        #expect(await book.heldRefs == [job.ref])
        #expect(await book.unfinishedCount == 1)
    }

    @Test("producedStatuses counts every result produced, by status")
    func producedStatuses() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        let jobs = ["j1", "j2", "j3", "j4"].map { makeJob($0, vm: nil) }
        let decodings = jobs.map(JobDecoding.valid) + [rejection("bad-1")]
        #expect(await book.admit(decodings, now: fixedNow) == jobs)
        await book.finish(makeResult(jobs[0]))
        await book.finish(makeResult(jobs[1]))
        await book.finish(makeResult(jobs[2], .failed))
        await book.finish(makeResult(jobs[3], .timedOut))
        #expect(await book.producedStatuses == [.succeeded: 2, .failed: 1, .timedOut: 1, .rejected: 1])
    }

    @Test("earliestLease is the soonest among unfinished jobs, and renew moves it")
    func leases() async {
        let book = JobBook(maxConcurrent: 5, bells: [])
        #expect(await book.earliestLease == nil)
        let soon = makeJob("j1", vm: "a", lease: fixedNow.addingTimeInterval(10))
        let later = makeJob("j2", vm: "b", lease: fixedNow.addingTimeInterval(20))
        #expect(await book.admit([.valid(later), .valid(soon)], now: fixedNow) == [later, soon])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(10))

        await book.renew([ReportReply.Lease(jobId: "j1", leaseExpiresAt: fixedNow.addingTimeInterval(60))])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(20))

        await book.finish(makeResult(later))
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(60))

        await book.renew([ReportReply.Lease(jobId: "no-such-job", leaseExpiresAt: fixedNow)])
        #expect(await book.earliestLease == fixedNow.addingTimeInterval(60))

        await book.finish(makeResult(soon))
        #expect(await book.earliestLease == nil)
    }
}

@Suite("JobBook: the memory of accepted results")
struct JobBookRecentTests {
    @Test("A result accepted twice is remembered as recently as its last acceptance")
    func reacceptedResultIsNotForgottenEarly() async {
        let book = JobBook(maxConcurrent: 2000, bells: [])
        let job = makeJob("job-a", vm: nil)
        _ = await book.admit([.valid(job)], now: fixedNow)
        await book.finish(makeResult(job))
        await book.accepted(["job-a"])
        // Delivered again: the stored result goes out again and is accepted again.
        #expect(await book.admit([.valid(job)], now: fixedNow).isEmpty)
        await book.accepted(["job-a"])
        // 1023 more acceptances fit in the memory of 1024 beside job-a.
        for index in 0..<1023 {
            let other = makeJob("job-\(index)", vm: nil)
            _ = await book.admit([.valid(other)], now: fixedNow)
            await book.finish(makeResult(other))
            await book.accepted([other.id])
        }
        #expect(await book.admit([.valid(job)], now: fixedNow).isEmpty, "job-a must not run again")
    }
}
