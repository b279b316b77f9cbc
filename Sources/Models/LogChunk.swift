import Foundation

/// A chunk of live output or log text (§5.3).
public struct LogChunk: Codable, Sendable, Equatable {
    public enum Stream: String, Codable, Sendable {
        case stdout, stderr
        /// The agent's own log lines at warning level and above.
        case agent
        /// Lines collected from a VM.
        case vm
    }

    /// The job the text belongs to; absent for the agent's own lines that concern no job.
    public var jobId: String?
    /// Increases per (jobId, stream) so the control plane can order and de-duplicate chunks.
    public var seq: Int
    public var stream: Stream
    public var at: Date
    public var text: String

    public init(jobId: String?, seq: Int, stream: Stream, at: Date, text: String) {
        self.jobId = jobId
        self.seq = seq
        self.stream = stream
        self.at = at
        self.text = text
    }
}
