/// The register response (§3). Every field is optional; a present one overrides
/// the configured value until the next registration.
public struct RegistrationReply: Codable, Sendable, Equatable {
    public var heartbeatInterval: Int?
    public var metricsInterval: Int?
    public var pollWait: Int?

    public init(heartbeatInterval: Int? = nil, metricsInterval: Int? = nil, pollWait: Int? = nil) {
        self.heartbeatInterval = heartbeatInterval
        self.metricsInterval = metricsInterval
        self.pollWait = pollWait
    }
}
