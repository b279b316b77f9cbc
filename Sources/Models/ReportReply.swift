import Foundation

/// The report response (§5.4). Missing lists mean empty.
public struct ReportReply: Codable, Sendable, Equatable {
    public struct Lease: Codable, Sendable, Equatable {
        public var jobId: String
        public var leaseExpiresAt: Date
        public init(jobId: String, leaseExpiresAt: Date) {
            self.jobId = jobId
            self.leaseExpiresAt = leaseExpiresAt
        }
    }

    /// Job ids whose results are now recorded; only these may be forgotten.
    public var accepted: [String]
    /// Renewed expiry times for running jobs.
    public var leases: [Lease]
    /// Jobs the agent must stop; each ends `cancelled`.
    public var cancel: [String]

    public init(accepted: [String] = [], leases: [Lease] = [], cancel: [String] = []) {
        self.accepted = accepted
        self.leases = leases
        self.cancel = cancel
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accepted = try container.decodeIfPresent([String].self, forKey: .accepted) ?? []
        leases = try container.decodeIfPresent([Lease].self, forKey: .leases) ?? []
        cancel = try container.decodeIfPresent([String].self, forKey: .cancel) ?? []
    }

    private enum CodingKeys: String, CodingKey { case accepted, leases, cancel }
}
