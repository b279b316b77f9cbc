import FlyingFox
import Foundation

/// An injected failure (`POST /admin/faults`): the next `count` agent requests to
/// `endpoint` are answered with `status` before any processing.
struct FaultRule: Decodable, Sendable {
    static let endpoints: Set<String> = ["register", "claim", "report", "any"]

    var endpoint: String
    var status: Int
    var count: Int
    var retryAfter: String?
    var body: String?

    private enum CodingKeys: String, CodingKey { case endpoint, status, count, retryAfter, body }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        endpoint = try container.decode(String.self, forKey: .endpoint)
        status = try container.decode(Int.self, forKey: .status)
        count = try container.decodeIfPresent(Int.self, forKey: .count) ?? 1
        retryAfter = try container.decodeIfPresent(String.self, forKey: .retryAfter)
        body = try container.decodeIfPresent(String.self, forKey: .body)
    }

    /// Why the rule cannot be used, or nil.
    var problem: String? {
        if !Self.endpoints.contains(endpoint) { return "endpoint must be register, claim, report or any" }
        if !(100...599).contains(status) { return "status must be 100 to 599" }
        if count < 1 { return "count must be 1 or more" }
        return nil
    }

    func matches(_ call: String) -> Bool { endpoint == "any" || endpoint == call }

    func response() -> HTTPResponse {
        var headers: HTTPHeaders = [:]
        if let retryAfter { headers[HTTPHeader("Retry-After")] = retryAfter }
        guard let body else {
            return APIError(
                status: status, code: "injected_fault", message: "fault injected by /admin/faults", headers: headers
            ).response()
        }
        headers[.contentType] = "application/json"
        return HTTPResponse(statusCode: .status(status), headers: headers, body: Data(body.utf8))
    }
}
