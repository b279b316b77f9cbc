import Models

/// The reference control plane's settings, parsed from the command line by `main.swift`.
struct ServerOptions: Sendable {
    var host = "127.0.0.1"
    var port: UInt16 = 0
    var apiKey = ""
    var leaseMs = 60_000
    var maxWaitMs = 60_000
    var portFile: String?
    /// `--state-file`: where the state is loaded from at start and saved to on SIGTERM/SIGINT.
    var stateFile: String?
    var heartbeatMs: Int?
    var pollWaitMs: Int?
    var metricsMs: Int?
    var verbose = false
    /// `--close-connections`: every response says `Connection: close`.
    var closeConnections = false

    /// The register reply: only the values set by flags, so `{}` by default.
    var registrationReply: RegistrationReply {
        RegistrationReply(heartbeatInterval: heartbeatMs, metricsInterval: metricsMs, pollWait: pollWaitMs)
    }

    /// The base URL as a client would write it (IPv6 literals in brackets).
    func baseURL(port: UInt16) -> String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }
}
