import Foundation
import Models
import Synchronization

/// A running job's stdout and stderr as log chunks for the control plane (§5.3),
/// so a long command or `create_vm` shows progress while it runs. Output is
/// buffered per stream and written to the outbox as one chunk when the buffer
/// reaches `chunkBytes`, when `interval` has passed since the last chunk, and when
/// the job ends (`finish`). `seq` increases per (jobId, stream). A chunk never
/// splits a UTF-8 character. Only output within the job's cap is streamed, and
/// the outbox bound applies on top.
public final class LiveOutput: Sendable {
    private struct Stream {
        var pending = Data()
        var seq = 0
        var lastFlush: ContinuousClock.Instant
    }

    private let jobId: String
    private let store: StateStore
    private let bell: Doorbell?
    private let chunkBytes: Int
    private let interval: Duration
    private let clock: ContinuousClock
    private let now: @Sendable () -> Date
    private let streams: Mutex<[OutputStreamKind: Stream]>

    public init(
        jobId: String, store: StateStore, bell: Doorbell?, chunkBytes: Int = 16_384,
        interval: Duration = .milliseconds(500), clock: ContinuousClock = ContinuousClock(),
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.jobId = jobId
        self.store = store
        self.bell = bell
        self.chunkBytes = chunkBytes
        self.interval = interval
        self.clock = clock
        self.now = now
        let start = clock.now
        streams = Mutex([.stdout: Stream(lastFlush: start), .stderr: Stream(lastFlush: start)])
    }

    /// Takes a piece of output; writes a chunk when the buffer is big or old enough.
    public func append(_ kind: OutputStreamKind, _ data: Data) {
        let instant = clock.now
        let chunks = streams.withLock { streams -> [LogChunk] in
            var stream = streams[kind] ?? Stream(lastFlush: instant)
            stream.pending.append(data)
            var out: [LogChunk] = []
            if stream.pending.count >= chunkBytes || stream.lastFlush.duration(to: instant) >= interval {
                out = cut(&stream, kind, all: false, at: instant)
            }
            streams[kind] = stream
            return out
        }
        write(chunks)
    }

    /// Writes whatever is left, at the end of the job.
    public func finish() {
        let instant = clock.now
        let chunks = streams.withLock { streams -> [LogChunk] in
            var out: [LogChunk] = []
            for kind in [OutputStreamKind.stdout, .stderr] {
                guard var stream = streams[kind] else { continue }
                out += cut(&stream, kind, all: true, at: instant)
                streams[kind] = stream
            }
            return out
        }
        write(chunks)
    }

    /// Takes the buffer as chunks of at most `chunkBytes`, holding back an incomplete
    /// UTF-8 sequence at the end unless `all`.
    private func cut(_ stream: inout Stream, _ kind: OutputStreamKind, all: Bool, at instant: ContinuousClock.Instant)
        -> [LogChunk]
    {
        let data = stream.pending
        let end = all ? data.count : UTF8Boundary.completeEnd(data)
        guard end > 0 else { return [] }
        var chunks: [LogChunk] = []
        var start = 0
        while start < end {
            var stop = min(end, start + chunkBytes)
            if stop < end {
                let boundary = UTF8Boundary.atOrBefore(stop, in: data, after: start)
                if boundary > start { stop = boundary }
            }
            chunks.append(
                LogChunk(
                    jobId: jobId, seq: stream.seq, stream: kind == .stdout ? .stdout : .stderr, at: now(),
                    text: String(decoding: data[data.startIndex + start..<data.startIndex + stop], as: UTF8.self)))
            stream.seq += 1
            start = stop
        }
        stream.pending = Data(data.dropFirst(end))
        stream.lastFlush = instant
        return chunks
    }

    private func write(_ chunks: [LogChunk]) {
        guard !chunks.isEmpty else { return }
        // Live output is best effort: a failed write loses progress text, never the result.
        try? store.enqueueLogs(chunks)
        bell?.ring()
    }
}
