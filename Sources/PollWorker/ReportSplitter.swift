import Foundation
import Models

/// How the reporter answers a 413 or a 400 for a batch (control-plane-api.md §2, §5.4),
/// as a pure state machine so it can be tested without a network:
/// - 413: the batch is halved until it fits; a lone result that is still too large
///   is sent with its output cut (64 KiB, then none); a lone log chunk or sample is dropped.
/// - 400: the batch is bisected. The failed batch's items become suspects; the
///   first half of them is sent; a success clears that half, a 400 narrows the
///   suspects to it. A lone suspect that still gets a 400 is the bad item: it is
///   the only thing dropped. Everything else is delivered.
public struct ReportSplitter: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// Send again at once, with the narrowed selection.
        case retry
        /// Drop this item (log it at error level) and carry on.
        case drop(ReportBatch.Key)
        /// Nothing left to narrow (the heartbeat alone was refused): back off.
        case backOff
    }

    public let maxItems: Int
    /// Items per batch: halved by a 413, doubled back by each success.
    public private(set) var limit: Int
    /// The items one of which the control plane refuses (400), while bisecting.
    public private(set) var suspects: [ReportBatch.Key]?
    /// Results whose output is cut to make them fit: 1 = 64 KiB per stream, 2 = none.
    public private(set) var trimLevels: [JobRef: Int] = [:]
    public static let trimmedOutputBytes = 65_536

    public init(maxItems: Int) {
        self.maxItems = max(1, maxItems)
        limit = self.maxItems
    }

    /// What to send next out of everything pending.
    public mutating func select(from pending: ReportBatch) -> ReportBatch {
        var batch = pending
        if let suspects {
            let stillPending = Set(pending.keys)
            let left = suspects.filter { stillPending.contains($0) }
            if left.isEmpty {
                self.suspects = nil
            } else {
                self.suspects = left
                let half = Set(left.prefix(max(1, left.count / 2)))
                batch = pending.filter { half.contains($0) }
            }
        }
        batch = batch.prefix(limit)
        batch.results = batch.results.map(trimmed)
        return batch
    }

    /// A 200: the sent items are delivered.
    public mutating func delivered(_ batch: ReportBatch) {
        limit = min(maxItems, limit * 2)
        if var suspects {
            let sent = Set(batch.keys)
            suspects.removeAll { sent.contains($0) }
            self.suspects = suspects.isEmpty ? nil : suspects
        }
        for result in batch.results { trimLevels[result.ref] = nil }
    }

    /// A 413 for `batch`.
    public mutating func tooLarge(_ batch: ReportBatch) -> Verdict {
        if batch.count > 1 {
            limit = max(1, batch.count / 2)
            return .retry
        }
        guard let key = batch.keys.first else { return .backOff }
        if case .result(let ref) = key {
            let level = trimLevels[ref, default: 0] + 1
            if level <= 2 {
                trimLevels[ref] = level
                return .retry
            }
            trimLevels[ref] = nil
        }
        return .drop(key)
    }

    /// A 400 for `batch`.
    public mutating func badRequest(_ batch: ReportBatch) -> Verdict {
        switch batch.count {
        case 0:
            return .backOff
        case 1:
            suspects = nil
            if let key = batch.keys.first {
                if case .result(let ref) = key { trimLevels[ref] = nil }
                return .drop(key)
            }
            return .backOff
        default:
            suspects = batch.keys
            return .retry
        }
    }

    /// The result as it is sent: its output cut when a 413 asked for it.
    func trimmed(_ result: JobResult) -> JobResult {
        guard let level = trimLevels[result.ref] else { return result }
        var result = result
        let keep = level >= 2 ? 0 : Self.trimmedOutputBytes
        let stdout = result.stdout.map { Self.cut($0, to: keep) }
        let stderr = result.stderr.map { Self.cut($0, to: keep) }
        if stdout != result.stdout || stderr != result.stderr { result.outputTruncated = true }
        result.stdout = stdout
        result.stderr = stderr
        return result
    }

    /// The longest prefix of `text` of at most `bytes` UTF-8 bytes that ends between characters' scalars.
    static func cut(_ text: String, to bytes: Int) -> String {
        let utf8 = Array(text.utf8)
        guard utf8.count > bytes else { return text }
        return String(decoding: utf8[..<UTF8Boundary.atOrBefore(bytes, in: utf8)], as: UTF8.self)
    }
}
