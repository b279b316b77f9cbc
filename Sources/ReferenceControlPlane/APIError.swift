import FlyingFox
import Foundation
import Models

/// A request that ends in an error response: status, `ErrorResponse` code and message.
struct APIError: Error, Sendable {
    var status: Int
    var code: String
    var message: String
    var headers: HTTPHeaders = [:]

    static func badRequest(_ message: String) -> APIError {
        APIError(status: 400, code: "bad_request", message: message)
    }

    static func notFound(_ message: String) -> APIError {
        APIError(status: 404, code: "not_found", message: message)
    }

    static func unknownAgent(_ agentId: String) -> APIError {
        APIError(
            status: 404, code: "unknown_agent",
            message: "agent \(agentId) is not registered (or was forgotten); register again")
    }

    static func methodNotAllowed(_ allowed: [String]) -> APIError {
        APIError(
            status: 405, code: "method_not_allowed",
            message: "allowed: \(allowed.joined(separator: ", "))",
            headers: [HTTPHeader("Allow"): allowed.joined(separator: ", ")])
    }

    static let unauthorized = APIError(
        status: 401, code: "unauthorized", message: "missing or wrong Authorization: Bearer key")
    static let badProtocol = APIError(
        status: 400, code: "bad_protocol", message: "X-LimaHost-Protocol: 1 is required")
    /// Answers what would change the state once it is saved for shutdown (`--state-file`):
    /// the agent waits and retries, by then against the next run.
    static let shuttingDown = APIError(
        status: 503, code: "shutting_down",
        message: "the control plane is shutting down and has saved its state; retry later",
        headers: [HTTPHeader("Retry-After"): "1"])
    static let payloadTooLarge = APIError(
        status: 413, code: "payload_too_large",
        message: "the body is larger than \(RequestHandler.maxBodyBytes) bytes")

    /// A 400 for a body that is not the JSON `what` should be, naming where it went wrong.
    static func malformedBody(_ error: any Error, what: String) -> APIError {
        guard let decodingError = error as? DecodingError else {
            return badRequest("malformed \(what): \(error.localizedDescription)")
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            return badRequest("malformed \(what): \(path(context.codingPath + [key])) is missing")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return badRequest("malformed \(what): \(path(context.codingPath)): \(context.debugDescription)")
        case .dataCorrupted(let context):
            let detail = context.codingPath.isEmpty ? "not valid JSON" : path(context.codingPath)
            return badRequest("malformed \(what): \(detail): \(context.debugDescription)")
        @unknown default:
            return badRequest("malformed \(what)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text.isEmpty ? "the body" : text
    }

    func response() -> HTTPResponse {
        .json(ErrorResponse(code: code, message: message), status: status, headers: headers)
    }
}
