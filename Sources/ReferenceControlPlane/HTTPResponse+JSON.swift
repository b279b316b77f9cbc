import FlyingFox
import Foundation
import Models

extension HTTPResponse {
    /// A JSON reply written with the wire encoder.
    static func json(_ value: some Encodable, status: Int = 200, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        guard let body = try? WireJSON.encoder().encode(value) else {
            return HTTPResponse(statusCode: .internalServerError)
        }
        return HTTPResponse(statusCode: .status(status), headers: headers, body: body)
    }
}

extension HTTPStatusCode {
    private static let known: [HTTPStatusCode] = [
        .ok, .created, .accepted, .noContent, .badRequest, .unauthorized, .forbidden, .notFound,
        .methodNotAllowed, .requestTimeout, .conflict, .gone, .payloadTooLarge, .unprocessableContent,
        .tooManyRequests, .internalServerError, .notImplemented, .badGateway, .serviceUnavailable,
        .gatewayTimeout,
    ]

    /// The status with its usual reason phrase, or a generic one for codes not listed.
    static func status(_ code: Int) -> HTTPStatusCode {
        known.first { $0.code == code } ?? HTTPStatusCode(code, phrase: "Status \(code)")
    }
}
