/// The claim response (§4): `{"jobs": [JOB, ...]}`.
///
/// Jobs are kept as raw JSON here so that one job the agent cannot parse does not
/// throw away the others: `decodedJobs()` turns each into a `Job` or a `JobRejection`.
public struct ClaimReply: Codable, Sendable, Equatable {
    public var jobs: [JSONValue]

    public init(jobs: [JSONValue]) { self.jobs = jobs }

    public init(jobs: [Job]) throws {
        self.jobs = try jobs.map { try JSONValue(encoding: $0) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        jobs = try container.decodeIfPresent([JSONValue].self, forKey: .jobs) ?? []
    }

    public func decodedJobs() -> [JobDecoding] {
        jobs.map(JobDecoder.decode)
    }

    private enum CodingKeys: String, CodingKey { case jobs }
}
