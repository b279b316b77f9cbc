import FlyingFox
import Foundation
import Models

/// Serves every request: size limit, routing, faults, authentication, the protocol
/// header, body decoding, then the `ControlPlane` call and its JSON reply.
///
/// An agent request meets the fault rules once its body is read (their conditions look
/// at it) and before anything else: `status`, `reset` and `garbage` answer it there,
/// unauthenticated and unprocessed; `slow` and `lostReply` let it be processed as usual
/// (authentication included), before and after which they do their part.
struct RequestHandler: HTTPHandler {
    static let maxBodyBytes = 8 * 1024 * 1024
    static let maxDrainBytes = 256 * 1024 * 1024
    static let maxAdminWaitMs = 600_000

    let controlPlane: ControlPlane
    let apiKey: String
    let verbose: Bool
    var closeConnections = false

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        let started = Date()
        var (response, fault) = await respond(to: request)
        if closeConnections { response.headers[.connection] = "close" }
        if verbose {
            let ms = Int(Date().timeIntervalSince(started) * 1000)
            var outcome = String(response.statusCode.code)
            if let fault {
                let what = fault == .reset || fault == .lostReply ? "connection cut" : outcome
                outcome = what + " [fault: " + fault.rawValue + "]"
            }
            let line =
                "limahost-refcp: \(request.method.rawValue) \(request.target.rawValue) -> "
                + "\(outcome) (\(ms) ms)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        return response
    }

    /// The response, and the kind of the fault applied to the request, if any.
    private func respond(to request: HTTPRequest) async -> (response: HTTPResponse, fault: FaultKind?) {
        let body: Data
        let endpoint: Endpoint
        do {
            body = try await readBody(of: request)
            endpoint = try route(request)
        } catch {
            return (Self.errorResponse(error), nil)
        }
        guard let call = endpoint.agentCall else {
            return (await answerAdmin(endpoint, request: request, body: body), nil)
        }
        var inspectResults = false
        if call == "report" { inspectResults = await controlPlane.faultsInspectResults() }
        let probe = FaultProbe(call: call, body: body, inspectResults: inspectResults)
        guard let fault = await controlPlane.admit(probe) else {
            return (await answerAgent(endpoint, request: request, body: body), nil)
        }
        switch fault.kind {
        case .status:
            return (fault.statusResponse(), fault.kind)
        case .reset:
            return (SeveredReply.response(to: request), fault.kind)
        case .garbage:
            return (FaultRule.garbageResponse(), fault.kind)
        case .slow:
            try? await Task.sleep(for: .milliseconds(fault.delayMs ?? 0))
            return (await answerAgent(endpoint, request: request, body: body), fault.kind)
        case .lostReply:
            _ = await answerAgent(endpoint, request: request, body: body)
            return (SeveredReply.response(to: request), fault.kind)
        }
    }

    private func route(_ request: HTTPRequest) throws -> Endpoint {
        let segments = request.target.path().split(separator: "/").map {
            $0.removingPercentEncoding ?? String($0)
        }
        switch Endpoint.resolve(method: request.method.rawValue, segments: segments) {
        case .notFound:
            throw APIError.notFound("no such endpoint: \(request.method.rawValue) \(request.target.path())")
        case .methodNotAllowed(let allowed):
            throw APIError.methodNotAllowed(allowed)
        case .found(let endpoint):
            return endpoint
        }
    }

    private static func errorResponse(_ error: any Error) -> HTTPResponse {
        if let error = error as? APIError { return error.response() }
        return APIError(status: 500, code: "internal", message: "\(error)").response()
    }

    /// An agent request, past the faults: authentication, the protocol header, then `serve`.
    private func answerAgent(_ endpoint: Endpoint, request: HTTPRequest, body: Data) async -> HTTPResponse {
        do {
            try authorize(request)
            let version = request.headers[HTTPHeader("X-LimaHost-Protocol")]?.trimmingCharacters(in: .whitespaces)
            guard version == "1" else { throw APIError.badProtocol }
            return try await serve(endpoint, request: request, body: body)
        } catch {
            return Self.errorResponse(error)
        }
    }

    private func answerAdmin(_ endpoint: Endpoint, request: HTTPRequest, body: Data) async -> HTTPResponse {
        do {
            try authorize(request)
            return try await serve(endpoint, request: request, body: body)
        } catch {
            return Self.errorResponse(error)
        }
    }

    /// Reads the whole body, refusing more than `maxBodyBytes`. An oversized body is
    /// still read to its end (and dropped): FlyingFox would otherwise parse its rest as
    /// the next request, and its line reader is slow on long lines. Only an absurd
    /// declared size is refused unread, and that connection is then closed.
    private func readBody(of request: HTTPRequest) async throws -> Data {
        if let declared = request.bodySequence.count, declared > Self.maxDrainBytes {
            var error = APIError.payloadTooLarge
            error.headers[.connection] = "close"
            throw error
        }
        var data = Data()
        var tooLarge = false
        for try await chunk in request.bodySequence {
            if tooLarge { continue }  // keep draining
            data.append(chunk)
            if data.count > Self.maxBodyBytes {
                tooLarge = true
                data = Data()
            }
        }
        if tooLarge { throw APIError.payloadTooLarge }
        return data
    }

    /// Decodes the body and calls the control plane; authentication is the caller's.
    private func serve(_ endpoint: Endpoint, request: HTTPRequest, body: Data) async throws -> HTTPResponse {
        switch endpoint {
        case .register(let agentId):
            let registration = try decode(Registration.self, from: body, what: "registration")
            return .json(try await controlPlane.register(agentId: agentId, registration: registration))
        case .claim(let agentId):
            let claim = try decode(ClaimRequest.self, from: body, what: "claim request")
            return .json(try await controlPlane.claim(agentId: agentId, request: claim))
        case .report(let agentId):
            let report = try decode(Report.self, from: body, what: "report")
            guard request.headers[HTTPHeader("Idempotency-Key")] == report.batchId else {
                throw APIError.badRequest("the Idempotency-Key header must be present and equal batchId")
            }
            return .json(try await controlPlane.report(agentId: agentId, report: report))
        case .enqueueJobs:
            let queued = try await controlPlane.enqueue(try jobObjects(from: body))
            return .json(EnqueueReply(ids: queued.ids, queuedAtNs: queued.queuedAtNs))
        case .listJobs:
            return .json(["jobs": await controlPlane.jobViews()])
        case .job(let id):
            return .json(try await controlPlane.jobView(id))
        case .cancelJob(let id):
            return .json(try await controlPlane.cancel(jobId: id))
        case .redeliverJob(let id):
            var sameAttempt = false
            if !body.isEmpty {
                let options = try decode(Models.JSONValue.self, from: body, what: "redeliver options")
                sameAttempt = options["sameAttempt"] == .bool(true)
            }
            return .json(try await controlPlane.redeliver(jobId: id, sameAttempt: sameAttempt))
        case .waitForJobs:
            let timeoutMs = min(max(Int(request.query["timeoutMs"] ?? "") ?? 30_000, 0), Self.maxAdminWaitMs)
            // `jobs=false` leaves out every job's view: the benchmarks wait for thousands.
            let (done, lastFinishedAtNs, jobs) = await controlPlane.waitUntilAllFinished(
                timeoutMs: timeoutMs, views: request.query["jobs"] != "false")
            var reply: [String: Models.JSONValue] = ["done": .bool(done), "lastFinishedAtNs": .int(lastFinishedAtNs)]
            if let jobs { reply["jobs"] = .array(jobs) }
            return .json(Models.JSONValue.object(reply))
        case .stats:
            return .json(await controlPlane.stats())
        case .logs:
            return .json(["logs": await controlPlane.logChunks(jobId: request.query["jobId"])])
        case .metrics:
            return .json(["metrics": await controlPlane.metricsSamples()])
        case .forgetAgent(let id):
            try await controlPlane.forget(agentId: id)
            return .json(["forgotten": id])
        case .addFault:
            var rule = try decode(FaultRule.self, from: body, what: "fault")
            if let problem = rule.problem { throw APIError.badRequest("bad fault: \(problem)") }
            rule.applied = 0
            let queued = try await controlPlane.addFault(rule)
            let added = try Models.JSONValue(encoding: rule)
            return .json(Models.JSONValue.object(["queued": .int(Int64(queued)), "fault": added]))
        case .listFaults:
            let (rules, pending) = await controlPlane.faultRules()
            let listed = try Models.JSONValue(encoding: rules)
            return .json(Models.JSONValue.object(["faults": listed, "queued": .int(Int64(pending))]))
        case .clearFaults:
            // `?status=N` removes only the rules answering N; without it, every rule goes.
            let status = request.query["status"].flatMap { Int($0) }
            try await controlPlane.clearFaults(status: status)
            return .json(["queued": await controlPlane.faultRules().1])
        }
    }

    private func authorize(_ request: HTTPRequest) throws {
        guard let value = request.headers[.authorization] else { throw APIError.unauthorized }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
            parts[1].trimmingCharacters(in: .whitespaces) == apiKey
        else { throw APIError.unauthorized }
    }

    private func decode<T: Decodable>(_ type: T.Type, from body: Data, what: String) throws -> T {
        do {
            return try WireJSON.decoder().decode(type, from: body)
        } catch {
            throw APIError.malformedBody(error, what: what)
        }
    }

    /// `POST /admin/jobs` takes one job object or an array of them; nothing else is checked.
    private func jobObjects(from body: Data) throws -> [[String: Models.JSONValue]] {
        switch try decode(Models.JSONValue.self, from: body, what: "job list") {
        case .object(let object):
            return [object]
        case .array(let entries):
            return try entries.enumerated().map { index, entry in
                guard let object = entry.objectValue else {
                    throw APIError.badRequest("entry \(index) is \(entry.kindName), not a job object")
                }
                return object
            }
        case let other:
            throw APIError.badRequest("expected a job object or an array of them, got \(other.kindName)")
        }
    }
}
