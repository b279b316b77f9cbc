import Foundation
import Models

#if canImport(Glibc)
    import Glibc
#endif

/// Everything `ControlPlane` knows, as saved to and loaded from `--state-file`: jobs with
/// their records, job order, queue, next job number, agents, recorded result refs, counters,
/// remembered report replies, logs, metrics and fault rules. Waiters, the lease timer and
/// the shutdown flag are not state: they belong to one run.
///
/// The file is this struct as wire JSON (`WireJSON`: RFC 3339 times, sorted keys).
struct ControlPlaneState: Codable, Sendable {
    /// The only file format so far; a file of another version is refused.
    static let currentVersion = 1

    var version = ControlPlaneState.currentVersion
    var savedAt: Date
    var jobs: [String: JobRecord]
    var jobOrder: [String]
    var queue: [String]
    var nextJobNumber: Int
    var agents: [String: AgentRecord]
    /// The set of recorded (jobId, attempt) refs, sorted for stable bytes.
    var recordedRefs: [JobRef]
    var logs: [LogChunk]
    var metrics: [MetricsSample]
    var counters: [String: Int]
    var requestCounts: [String: Int]
    /// Applied faults per `FaultKind` name.
    var faultCounts: [String: Int]
    /// Report replies by "agentId\nbatchId", so a resent batch gets the same answer.
    var batchReplies: [String: ReportReply]
    var batchOrder: [String]
    var faults: [FaultRule]

    /// Reads the state saved at `path`; nil when there is no such file.
    static func load(from path: String) throws -> ControlPlaneState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw StateFileError(description: "cannot read \(path): \(error.localizedDescription)")
        }
        let state: ControlPlaneState
        do {
            state = try WireJSON.decoder().decode(ControlPlaneState.self, from: data)
        } catch {
            throw StateFileError(description: "\(path) is not a saved state: \(error)")
        }
        guard state.version == currentVersion else {
            throw StateFileError(
                description: "\(path) has state format \(state.version); this build reads \(currentVersion)")
        }
        return state
    }

    /// Writes the state to `path` atomically: the bytes go to `path.tmp`, are flushed to
    /// disk, and the file is then renamed over `path`, so a reader (or a crash) sees either
    /// the old file or the new one, never a part.
    func write(to path: String) throws {
        let temporary = path + ".tmp"
        let temporaryURL = URL(fileURLWithPath: temporary)
        do {
            try WireJSON.encoder().encode(self).write(to: temporaryURL)
            let handle = try FileHandle(forWritingTo: temporaryURL)
            defer { try? handle.close() }
            try handle.synchronize()
        } catch {
            throw StateFileError(description: "cannot write \(temporary): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            throw StateFileError(description: "cannot rename \(temporary) to \(path): \(reason)")
        }
    }
}
