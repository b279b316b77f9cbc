/// Every endpoint the reference control plane serves, resolved from a method and
/// the percent-decoded path segments.
enum Endpoint: Sendable, Equatable {
    case register(agentId: String)
    case claim(agentId: String)
    case report(agentId: String)
    case enqueueJobs
    case listJobs
    case job(id: String)
    case cancelJob(id: String)
    case redeliverJob(id: String)
    case waitForJobs
    case stats
    case logs
    case metrics
    case forgetAgent(id: String)
    case addFault
    case listFaults
    case clearFaults

    enum Resolution: Sendable, Equatable {
        case found(Endpoint)
        case methodNotAllowed([String])
        case notFound
    }

    /// The agent API call's name (`register`, `claim`, `report`) for counters and faults; nil for admin.
    var agentCall: String? {
        switch self {
        case .register: "register"
        case .claim: "claim"
        case .report: "report"
        default: nil
        }
    }

    static func resolve(method: String, segments: [String]) -> Resolution {
        let byMethod = routes(for: segments)
        if byMethod.isEmpty { return .notFound }
        guard let endpoint = byMethod[method] else { return .methodNotAllowed(byMethod.keys.sorted()) }
        return .found(endpoint)
    }

    private static func routes(for s: [String]) -> [String: Endpoint] {
        switch s.count {
        case 2 where s[0] == "admin":
            switch s[1] {
            case "jobs": return ["GET": .listJobs, "POST": .enqueueJobs]
            case "wait": return ["GET": .waitForJobs]
            case "stats": return ["GET": .stats]
            case "logs": return ["GET": .logs]
            case "metrics": return ["GET": .metrics]
            case "faults": return ["GET": .listFaults, "POST": .addFault, "DELETE": .clearFaults]
            default: return [:]
            }
        case 3 where s[0] == "admin" && s[1] == "jobs":
            return ["GET": .job(id: s[2])]
        case 4 where s[0] == "admin" && s[1] == "jobs" && s[3] == "cancel":
            return ["POST": .cancelJob(id: s[2])]
        case 4 where s[0] == "admin" && s[1] == "jobs" && s[3] == "redeliver":
            return ["POST": .redeliverJob(id: s[2])]
        case 4 where s[0] == "admin" && s[1] == "agents" && s[3] == "forget":
            return ["POST": .forgetAgent(id: s[2])]
        case 4 where s[0] == "v1" && s[1] == "agents" && s[3] == "register":
            return ["POST": .register(agentId: s[2])]
        case 4 where s[0] == "v1" && s[1] == "agents" && s[3] == "report":
            return ["POST": .report(agentId: s[2])]
        case 5 where s[0] == "v1" && s[1] == "agents" && s[3] == "jobs" && s[4] == "claim":
            return ["POST": .claim(agentId: s[2])]
        default:
            return [:]
        }
    }
}
