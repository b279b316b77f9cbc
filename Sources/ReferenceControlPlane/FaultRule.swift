import FlyingFox
import Foundation

/// An injected failure (`POST /admin/faults`), applied to agent requests (register,
/// claim, report) that match it:
///
/// ```
/// {"endpoint": "register" | "claim" | "report" | "any",
///  "kind": "status" | "reset" | "garbage" | "slow" | "lostReply",  // default "status"
///  "status": 500,            // kind status only, and required there (100...599)
///  "retryAfter": "1",        // kind status: a Retry-After header
///  "body": "...",            // kind status: the body (sent as application/json)
///  "count": 1,               // how many requests it may fault (default 1)
///  "fraction": 1.0,          // 0 < fraction <= 1 (default 1): chance a matching request is faulted
///  "delayMs": 500,           // kind slow only, and required there (1...120000)
///  "jobId": "job-7",         // condition: the body holds a result (`results[].jobId`) for this job
///  "minBodyBytes": 200000}   // condition: the body is at least this many bytes
/// ```
///
/// Rules are tried in the order added: the first one that matches (endpoint and conditions)
/// and wins its random draw is applied, and only then is its `count` decremented. A used-up
/// rule stays listed (`GET /admin/faults`) with `count` 0 and its `applied` total.
/// See `FaultKind` for what each kind does.
struct FaultRule: Codable, Sendable {
    static let endpoints: Set<String> = ["register", "claim", "report", "any"]
    static let maxDelayMs = 120_000
    /// The body of a `garbage` answer: it starts like a claim reply and is not JSON.
    static let garbageBody = #"{"jobs": [ <<garbage"#

    var endpoint: String
    var kind: FaultKind
    var status: Int?
    var retryAfter: String?
    var body: String?
    /// How many more requests the rule may fault.
    var count: Int
    var fraction: Double
    var delayMs: Int?
    var jobId: String?
    var minBodyBytes: Int?
    /// How many requests the rule has faulted. Not taken from `POST /admin/faults`.
    var applied = 0

    private enum CodingKeys: String, CodingKey {
        case endpoint, kind, status, retryAfter, body, count, fraction, delayMs, jobId, minBodyBytes, applied
    }

    /// Decodes a rule with its defaults. `applied` is read too, for the state file;
    /// `RequestHandler` zeroes it for a new rule.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        endpoint = try container.decode(String.self, forKey: .endpoint)
        let kindName = try container.decodeIfPresent(String.self, forKey: .kind) ?? FaultKind.status.rawValue
        guard let kind = FaultKind(rawValue: kindName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container,
                debugDescription: "kind must be one of \(FaultKind.names), got \"\(kindName)\"")
        }
        self.kind = kind
        status = try container.decodeIfPresent(Int.self, forKey: .status)
        retryAfter = try container.decodeIfPresent(String.self, forKey: .retryAfter)
        body = try container.decodeIfPresent(String.self, forKey: .body)
        count = try container.decodeIfPresent(Int.self, forKey: .count) ?? 1
        fraction = try container.decodeIfPresent(Double.self, forKey: .fraction) ?? 1
        delayMs = try container.decodeIfPresent(Int.self, forKey: .delayMs)
        jobId = try container.decodeIfPresent(String.self, forKey: .jobId)
        minBodyBytes = try container.decodeIfPresent(Int.self, forKey: .minBodyBytes)
        applied = try container.decodeIfPresent(Int.self, forKey: .applied) ?? 0
    }

    /// Why the rule cannot be used, or nil.
    var problem: String? {
        if !Self.endpoints.contains(endpoint) { return "endpoint must be register, claim, report or any" }
        if count < 1 { return "count must be 1 or more" }
        if !(fraction > 0 && fraction <= 1) { return "fraction must be more than 0 and at most 1" }
        if let minBodyBytes, minBodyBytes < 0 { return "minBodyBytes must be 0 or more" }
        if let jobId, jobId.isEmpty { return "jobId must not be empty" }
        switch kind {
        case .status:
            guard let status else { return "kind status needs a status (100 to 599)" }
            if !(100...599).contains(status) { return "status must be 100 to 599" }
        case .slow:
            guard let delayMs else { return "kind slow needs delayMs (1 to \(Self.maxDelayMs))" }
            if !(1...Self.maxDelayMs).contains(delayMs) { return "delayMs must be 1 to \(Self.maxDelayMs)" }
        case .reset, .garbage, .lostReply:
            break
        }
        return nil
    }

    /// Whether the rule may fault this request: faults left, endpoint and conditions.
    /// The random draw (`fraction`) is the caller's.
    func matches(_ probe: FaultProbe) -> Bool {
        guard count > 0, endpoint == "any" || endpoint == probe.call else { return false }
        if let minBodyBytes, probe.bodyBytes < minBodyBytes { return false }
        if let jobId, !probe.resultJobIds.contains(jobId) { return false }
        return true
    }

    /// The answer of a `status` rule.
    func statusResponse() -> HTTPResponse {
        let code = status ?? 500
        var headers: HTTPHeaders = [:]
        if let retryAfter { headers[HTTPHeader("Retry-After")] = retryAfter }
        guard let body else {
            return APIError(
                status: code, code: "injected_fault", message: "fault injected by /admin/faults", headers: headers
            ).response()
        }
        headers[.contentType] = "application/json"
        return HTTPResponse(statusCode: .status(code), headers: headers, body: Data(body.utf8))
    }

    /// The answer of a `garbage` rule: a well-framed `200` whose JSON body is cut short.
    static func garbageResponse() -> HTTPResponse {
        HTTPResponse(
            statusCode: .ok, headers: [HTTPHeader.contentType: "application/json"], body: Data(garbageBody.utf8))
    }
}
