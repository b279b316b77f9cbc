import Foundation
import Models
import Testing

@testable import PollWorker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

private func classify(
    _ status: Int, headers: [String: String] = [:], body: Data = Data()
) throws -> ControlPlaneError {
    let url = try #require(URL(string: "https://cp.example.com/v1/agents/host-1/report"))
    let response = try #require(
        HTTPURLResponse(url: url, statusCode: status, httpVersion: "HTTP/1.1", headerFields: headers))
    return HTTPControlPlane.classify(response, body)
}

@Suite("HTTPControlPlane.classify")
struct HTTPClassifyTests {
    @Test("401 and 403 mean the key was refused", arguments: [401, 403])
    func refused(status: Int) throws {
        let error = try classify(status)
        #expect(error.kind == .refused)
        #expect(error.status == status)
    }

    @Test("404 means the agent is unknown")
    func unknownAgent() throws {
        #expect(try classify(404).kind == .unknownAgent)
    }

    @Test("409 is a conflict")
    func conflict() throws {
        #expect(try classify(409).kind == .conflict)
    }

    @Test("413 means the batch is too large")
    func tooLarge() throws {
        #expect(try classify(413).kind == .tooLarge)
    }

    @Test("429 carries the server's Retry-After")
    func throttledWithRetryAfter() throws {
        let error = try classify(429, headers: ["Retry-After": "7"])
        #expect(error.kind == .throttled(retryAfter: Duration.seconds(7)))
        #expect(error.status == 429)
    }

    @Test("503 without Retry-After is throttled without a delay")
    func throttledWithoutRetryAfter() throws {
        #expect(try classify(503).kind == .throttled(retryAfter: nil))
    }

    @Test("An unparsable Retry-After is ignored")
    func badRetryAfter() throws {
        #expect(try classify(429, headers: ["Retry-After": "later"]).kind == .throttled(retryAfter: nil))
    }

    @Test("400 is a bad request and keeps the server's error code and message")
    func badRequest() throws {
        let body = try WireJSON.encoder().encode(
            ErrorResponse(code: "invalid_request", message: "batchId must not be empty"))
        let error = try classify(400, body: body)
        #expect(error.kind == .badRequest)
        #expect(error.status == 400)
        #expect(error.message == "invalid_request: batchId must not be empty")
        #expect(error.message.contains("batchId must not be empty"))
        #expect(error.description == "HTTP 400: invalid_request: batchId must not be empty")
    }

    @Test("Another 4xx is a bad request")
    func otherClientError() throws {
        #expect(try classify(422).kind == .badRequest)
    }

    @Test("500, other 5xx and 408 (request timeout) are transient", arguments: [500, 502, 504, 408])
    func transient(status: Int) throws {
        #expect(try classify(status).kind == .transient)
    }

    @Test("A body that is not an error response is quoted as text")
    func plainBody() throws {
        let error = try classify(502, body: Data("upstream timed out".utf8))
        #expect(error.message == "upstream timed out")
    }
}
