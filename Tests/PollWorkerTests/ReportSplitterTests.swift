import Foundation
import Models
import Testing

@testable import PollWorker

private func result(_ id: String, stdout: String? = nil, stderr: String? = nil) -> JobResult {
    JobResult(
        jobId: id, attempt: 1, type: "execute_command", status: .succeeded, startedAt: fixedNow,
        finishedAt: fixedNow, duration: 10, exitCode: 0, stdout: stdout, stderr: stderr)
}

private func logItem(_ seq: Int) -> (seq: Int64, chunk: LogChunk) {
    (Int64(seq), LogChunk(jobId: nil, seq: seq, stream: .agent, at: fixedNow, text: "line \(seq)"))
}

private func sampleItem(_ seq: Int) -> (seq: Int64, sample: MetricsSample) {
    (Int64(seq), MetricsSample(at: fixedNow.addingTimeInterval(TimeInterval(seq))))
}

private func ref(_ id: String) -> JobRef {
    JobRef(jobId: id, attempt: 1)
}

/// 64 items: 24 results, 32 log chunks, 8 metrics samples.
private let sixtyFour = ReportBatch(
    results: (0..<24).map { result("job-\($0)") }, logs: (0..<32).map(logItem),
    metrics: (0..<8).map(sampleItem))

@Suite("ReportSplitter: selection and 413")
struct ReportSplitterSizeTests {
    @Test("select returns at most limit items, results first")
    func selectRespectsLimit() {
        var splitter = ReportSplitter(maxItems: 3)
        let pending = ReportBatch(
            results: [result("r1"), result("r2")], logs: [logItem(1), logItem(2), logItem(3)],
            metrics: [sampleItem(1)])
        let batch = splitter.select(from: pending)
        #expect(batch.keys == [.result(ref("r1")), .result(ref("r2")), .log(1)])
        #expect(batch.results == pending.results)

        var small = ReportSplitter(maxItems: 2)
        let onlyResults = small.select(from: ReportBatch(results: [result("r1"), result("r2"), result("r3")]))
        #expect(onlyResults.keys == [.result(ref("r1")), .result(ref("r2"))])

        var everything = ReportSplitter(maxItems: 100)
        let all = everything.select(from: pending)
        #expect(all.keys == pending.keys)
        let none = everything.select(from: ReportBatch())
        #expect(none.isEmpty)
    }

    @Test("A batch limit below one is one")
    func limitFloor() {
        #expect(ReportSplitter(maxItems: 0).limit == 1)
        #expect(ReportSplitter(maxItems: -5).maxItems == 1)
    }

    @Test("A 413 on several items halves the batch; each success doubles it back up to maxItems")
    func tooLargeHalves() {
        var splitter = ReportSplitter(maxItems: 8)
        let pending = ReportBatch(logs: (1...20).map(logItem))
        var batch = splitter.select(from: pending)
        #expect(batch.count == 8)

        for expected in [4, 2, 1] {
            let verdict = splitter.tooLarge(batch)
            #expect(verdict == .retry)
            #expect(splitter.limit == expected)
            batch = splitter.select(from: pending)
            #expect(batch.count == expected)
        }

        for expected in [2, 4, 8, 8] {
            splitter.delivered(batch)
            #expect(splitter.limit == expected)
            batch = splitter.select(from: pending)
            #expect(batch.count == expected)
        }
    }

    @Test("A 413 on one result cuts its output to 64 KiB, then to nothing, then drops it")
    func tooLargeResult() throws {
        var splitter = ReportSplitter(maxItems: 4)
        let big = result(
            "big", stdout: String(repeating: "o", count: 100_000), stderr: String(repeating: "e", count: 70_000))
        let pending = ReportBatch(results: [big])

        let whole = splitter.select(from: pending)
        #expect(whole.results == [big])
        let first = splitter.tooLarge(whole)
        #expect(first == .retry)

        let cut = splitter.select(from: pending)
        var expected = big
        expected.stdout = String(repeating: "o", count: ReportSplitter.trimmedOutputBytes)
        expected.stderr = String(repeating: "e", count: ReportSplitter.trimmedOutputBytes)
        expected.outputTruncated = true
        #expect(cut.results == [expected])
        let second = splitter.tooLarge(cut)
        #expect(second == .retry)

        let bare = splitter.select(from: pending)
        expected.stdout = ""
        expected.stderr = ""
        #expect(bare.results == [expected])

        let third = splitter.tooLarge(bare)
        #expect(third == .drop(.result(big.ref)))
    }

    @Test("A result's output is cut on a character boundary")
    func trimKeepsCharacters() throws {
        var splitter = ReportSplitter(maxItems: 1)
        let euros = String(repeating: "€", count: 30_000)  // 3 bytes each
        let pending = ReportBatch(results: [result("euro", stdout: euros)])
        let whole = splitter.select(from: pending)
        let verdict = splitter.tooLarge(whole)
        #expect(verdict == .retry)
        let trimmed = splitter.select(from: pending)
        let cut = try #require(trimmed.results.first)
        let stdout = try #require(cut.stdout)
        #expect(stdout.utf8.count == 65_535)
        #expect(stdout == String(repeating: "€", count: 21_845))
        #expect(cut.stderr == nil)
        #expect(cut.outputTruncated == true)
    }

    @Test("A result that fits after a cut is sent whole next time once delivered")
    func deliveredForgetsTrim() {
        var splitter = ReportSplitter(maxItems: 4)
        let big = result("big", stdout: String(repeating: "o", count: 100_000))
        let pending = ReportBatch(results: [big])
        let whole = splitter.select(from: pending)
        let verdict = splitter.tooLarge(whole)
        #expect(verdict == .retry)
        let cut = splitter.select(from: pending)
        #expect(cut.results.first?.outputTruncated == true)
        splitter.delivered(cut)
        let next = splitter.select(from: pending)
        #expect(next.results == [big])
    }

    @Test("A 413 on one log chunk or one sample drops it; on nothing, backs off")
    func tooLargeLoneItem() {
        var splitter = ReportSplitter(maxItems: 4)
        let chunk = splitter.tooLarge(ReportBatch(logs: [logItem(7)]))
        #expect(chunk == .drop(.log(7)))
        let sample = splitter.tooLarge(ReportBatch(metrics: [sampleItem(3)]))
        #expect(sample == .drop(.metric(3)))
        let nothing = splitter.tooLarge(ReportBatch())
        #expect(nothing == .backOff)
    }

    @Test("cut never splits a multi-byte character")
    func cutKeepsScalars() {
        let accents = String(repeating: "é", count: 10)  // 2 bytes each
        #expect(ReportSplitter.cut(accents, to: 7) == "ééé")
        #expect(ReportSplitter.cut(accents, to: 8) == "éééé")
        #expect(ReportSplitter.cut(accents, to: 1) == "")
        #expect(ReportSplitter.cut(accents, to: 0) == "")
        #expect(ReportSplitter.cut(accents, to: 20) == accents)
        #expect(ReportSplitter.cut(accents, to: 100) == accents)

        let mixed = "a€🙂b"  // 1 + 3 + 4 + 1 bytes
        let expected = ["", "a", "a", "a", "a€", "a€", "a€", "a€", "a€🙂", "a€🙂b"]
        for (bytes, prefix) in expected.enumerated() {
            let cut = ReportSplitter.cut(mixed, to: bytes)
            #expect(cut == prefix, "cut to \(bytes) bytes")
            #expect(cut.utf8.count <= bytes)
        }
    }
}

@Suite("ReportSplitter: 400 bisection")
struct ReportSplitterBisectionTests {
    @Test("A 400 on an empty batch (the heartbeat alone) backs off")
    func emptyBatchBacksOff() {
        var splitter = ReportSplitter(maxItems: 8)
        let verdict = splitter.badRequest(ReportBatch())
        #expect(verdict == .backOff)
    }

    @Test("A 400 on one item drops it")
    func loneItemIsDropped() {
        var splitter = ReportSplitter(maxItems: 8)
        let verdict = splitter.badRequest(ReportBatch(results: [result("bad")]))
        #expect(verdict == .drop(.result(ref("bad"))))
        #expect(splitter.suspects == nil)
    }

    @Test(
        "Bisection drops exactly the refused item and delivers every other one once, in few rounds",
        arguments: Array(0..<64))
    func bisection(badIndex: Int) throws {
        let keys = sixtyFour.keys
        #expect(keys.count == 64)
        let bad = keys[badIndex]
        var splitter = ReportSplitter(maxItems: 64)
        var pending = sixtyFour
        var delivered: [ReportBatch.Key] = []
        var dropped: [ReportBatch.Key] = []
        var rounds = 0

        // A control plane that answers 400 to any batch holding `bad`, 200 to any other.
        delivery: while !pending.isEmpty && rounds < 100 {
            rounds += 1
            let batch = splitter.select(from: pending)
            try #require(!batch.isEmpty, "select chose nothing with \(pending.count) items pending")
            guard batch.keys.contains(bad) else {
                splitter.delivered(batch)
                delivered += batch.keys
                let sent = Set(batch.keys)
                pending = pending.filter { !sent.contains($0) }
                continue
            }
            switch splitter.badRequest(batch) {
            case .retry:
                continue
            case .drop(let key):
                dropped.append(key)
                pending = pending.filter { $0 != key }
            case .backOff:
                Issue.record("backed off with \(pending.count) items pending")
                break delivery
            }
        }

        #expect(pending.isEmpty)
        #expect(dropped == [bad])
        #expect(delivered.count == 63, "every other item is delivered exactly once")
        #expect(Set(delivered) == Set(keys).subtracting([bad]))
        // 2 * log2(64) + 2
        #expect(rounds <= 14)
        #expect(splitter.suspects == nil)
    }

    @Test("Suspects that are no longer pending are forgotten")
    func vanishedSuspects() {
        var splitter = ReportSplitter(maxItems: 8)
        let pending = ReportBatch(logs: (1...4).map(logItem))
        let batch = splitter.select(from: pending)
        let verdict = splitter.badRequest(batch)
        #expect(verdict == .retry)
        #expect(splitter.suspects == batch.keys)

        // The suspects left the outbox some other way: the next selection is unrestricted.
        let other = ReportBatch(logs: (5...6).map(logItem))
        let next = splitter.select(from: other)
        #expect(next.keys == other.keys)
        #expect(splitter.suspects == nil)
    }
}
