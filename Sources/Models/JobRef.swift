/// A job as the agent holds it: `{"jobId": "job-41", "attempt": 1}` in `held` lists.
public struct JobRef: Codable, Sendable, Hashable {
    public var jobId: String
    public var attempt: Int

    public init(jobId: String, attempt: Int) {
        self.jobId = jobId
        self.attempt = attempt
    }
}
