import Dispatch
import Foundation
import Logging
import Models

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The control plane over HTTPS with URLSession (FoundationNetworking, libcurl).
///
/// One session for the life of the process, never invalidated: short-lived
/// sessions can abort the process on Linux (swift-linux-notes.md). Requests run
/// through `dataTask` + a continuation, and cancellation calls `task.cancel()`
/// from another queue, because cancelling `data(for:)` can deadlock on 6.3.
public final class HTTPControlPlane: ControlPlane {
    private let baseURL: URL
    private let agentPath: String
    private let apiKey: Secret
    private let session: URLSession
    private let logger: Logger
    private let allowList: AddressAllowList?
    /// The long poll's HTTP timeout exceeds `wait` by this margin (§4).
    public static let claimMargin: Duration = .seconds(15)
    public static let requestTimeout: TimeInterval = 30

    public init(
        baseURL: URL, agentId: String, apiKey: Secret, session: URLSession, logger: Logger,
        allowList: AddressAllowList? = nil
    ) {
        self.baseURL = baseURL
        self.allowList = allowList
        let encoded =
            agentId.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~")))
            ?? agentId
        self.agentPath = "/v1/agents/\(encoded)"
        self.apiKey = apiKey
        self.session = session
        self.logger = logger
    }

    /// The process-wide session: no caching, no cookies, keep-alive reused.
    /// `requestTimeout` is only the default; every request sets its own.
    public static func makeSession(requestTimeout: TimeInterval = requestTimeout) -> URLSession {
        let configuration = URLSessionConfiguration.default
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        // No cookies at all: FoundationNetworking otherwise parses every response header
        // line for one, a visible share of an idle agent's CPU.
        configuration.httpCookieAcceptPolicy = .never
        configuration.timeoutIntervalForRequest = requestTimeout
        configuration.httpMaximumConnectionsPerHost = 4
        return URLSession(configuration: configuration, delegate: nil, delegateQueue: completions())
    }

    /// Where URLSession runs its completion handlers: a serial operation queue, as its
    /// own default, but on a serial Dispatch queue of ours. The default's concurrent
    /// backing queue targets Dispatch's global pool, whose first worker starts
    /// Dispatch's worker monitor, a 1 Hz timer for the life of the process: a quarter
    /// of the idle agent's CPU target (docs/performance.md). A serial queue targets
    /// the overcommit pool, which no monitor watches.
    private static func completions() -> OperationQueue {
        let queue = OperationQueue()
        queue.name = "limahost-agent.http-completions"
        queue.maxConcurrentOperationCount = 1
        queue.underlyingQueue = completionQueue
        return queue
    }

    /// Held here: OperationQueue keeps its underlying queue `unowned(unsafe)`.
    private static let completionQueue = DispatchQueue(label: "limahost-agent.http-completions")

    public func register(_ registration: Registration) async throws(ControlPlaneError) -> RegistrationReply {
        try await post("\(agentPath)/register", registration, timeout: Self.requestTimeout)
    }

    public func claim(_ request: ClaimRequest) async throws(ControlPlaneError) -> ClaimReply {
        let timeout = Double(request.wait) / 1000 + Double(Self.claimMargin.components.seconds)
        return try await post(
            "\(agentPath)/jobs/claim", request, timeout: timeout, emptyReply: ClaimReply(jobs: [JSONValue]()))
    }

    public func report(_ report: Report) async throws(ControlPlaneError) -> ReportReply {
        try await post(
            "\(agentPath)/report", report, timeout: Self.requestTimeout,
            headers: ["Idempotency-Key": report.batchId])
    }

    private func post<Body: Encodable, Reply: Decodable>(
        _ path: String, _ body: Body, timeout: TimeInterval, headers: [String: String] = [:],
        emptyReply: Reply? = nil
    ) async throws(ControlPlaneError) -> Reply {
        guard let url = URL(string: path, relativeTo: baseURL)?.absoluteURL else {
            throw ControlPlaneError(.badRequest, message: "cannot form a URL for \(path)")
        }
        if let allowList, let problem = allowList.problem(host: url.host ?? "") {
            throw ControlPlaneError(.notAllowed, message: problem)
        }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData)
        // Only the setter counts: a timeout given to the initialiser loses to the session's
        // `timeoutIntervalForRequest` on Linux, which cut every idle long poll off at 30 s.
        request.timeoutInterval = timeout
        request.httpMethod = "POST"
        request.setValue("Bearer \(apiKey.exposedValue)", forHTTPHeaderField: "Authorization")
        request.setValue("limahost-agent/\(AgentVersion.current)", forHTTPHeaderField: "User-Agent")
        request.setValue(String(AgentVersion.wireProtocol), forHTTPHeaderField: "X-LimaHost-Protocol")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        do {
            request.httpBody = try WireJSON.encoder().encode(body)
        } catch {
            throw ControlPlaneError(.badRequest, message: "cannot encode the request: \(error)")
        }
        logger.debug(
            "HTTP request",
            metadata: ["method": "POST", "path": .string(path), "bytes": "\(request.httpBody?.count ?? 0)"])
        let (data, response) = try await send(request)
        logger.debug(
            "HTTP response",
            metadata: ["path": .string(path), "status": "\(response.statusCode)", "bytes": "\(data.count)"])
        switch response.statusCode {
        case 200..<300:
            if response.statusCode == 204 || data.isEmpty, let emptyReply { return emptyReply }
            do {
                return try WireJSON.decoder().decode(Reply.self, from: data)
            } catch {
                throw ControlPlaneError(
                    .transient, status: response.statusCode, message: "unparsable reply: \(error)")
            }
        default:
            throw Self.classify(response, data)
        }
    }

    static func classify(_ response: HTTPURLResponse, _ data: Data) -> ControlPlaneError {
        let status = response.statusCode
        let serverMessage =
            (try? WireJSON.decoder().decode(ErrorResponse.self, from: data)).map {
                "\($0.error.code): \($0.error.message)"
            } ?? String(decoding: data.prefix(300), as: UTF8.self)
        let message = serverMessage.isEmpty ? HTTPURLResponse.localizedString(forStatusCode: status) : serverMessage
        switch status {
        case 401, 403: return ControlPlaneError(.refused, status: status, message: message)
        case 404: return ControlPlaneError(.unknownAgent, status: status, message: message)
        case 409: return ControlPlaneError(.conflict, status: status, message: message)
        case 413: return ControlPlaneError(.tooLarge, status: status, message: message)
        case 429, 503:
            let retryAfter = (response.value(forHTTPHeaderField: "Retry-After")).flatMap {
                RetryAfter.parse($0, now: Date())
            }
            return ControlPlaneError(.throttled(retryAfter: retryAfter), status: status, message: message)
        case 408: return ControlPlaneError(.transient, status: status, message: message)
        case 400..<500: return ControlPlaneError(.badRequest, status: status, message: message)
        default: return ControlPlaneError(.transient, status: status, message: message)
        }
    }

    private func send(_ request: URLRequest) async throws(ControlPlaneError) -> (Data, HTTPURLResponse) {
        let box = TaskBox()
        let outcome: Result<(Data, HTTPURLResponse), ControlPlaneError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error {
                        let nsError = error as NSError
                        if nsError.code == NSURLErrorCancelled {
                            continuation.resume(
                                returning: .failure(ControlPlaneError(.cancelled, message: "cancelled")))
                        } else {
                            continuation.resume(
                                returning: .failure(
                                    ControlPlaneError(.transient, message: HTTPControlPlane.describe(nsError))))
                        }
                    } else if let http = response as? HTTPURLResponse {
                        continuation.resume(returning: .success((data ?? Data(), http)))
                    } else {
                        continuation.resume(
                            returning: .failure(ControlPlaneError(.transient, message: "no HTTP response")))
                    }
                }
                box.set(task)
                task.resume()
            }
        } onCancel: {
            box.cancel()
        }
        return try outcome.get()
    }

    /// What to do about a certificate the agent does not trust (URLSession on Linux
    /// trusts only the system store: swift-linux-notes.md).
    static let caHint =
        "if the control plane uses a private CA, add it to the system store with "
        + "`deploy/install-ca.sh CA.crt` (it copies the file to /usr/local/share/ca-certificates/ "
        + "and runs update-ca-certificates), then restart the agent"

    static func describe(_ error: NSError) -> String {
        switch error.code {
        case NSURLErrorTimedOut: return "timed out"
        case NSURLErrorCannotConnectToHost: return "cannot connect to the control plane"
        case NSURLErrorCannotFindHost: return "cannot resolve the control plane's host"
        case NSURLErrorNetworkConnectionLost: return "connection lost"
        case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted,
            NSURLErrorServerCertificateHasUnknownRoot, NSURLErrorServerCertificateHasBadDate:
            return "TLS failed (\(error.localizedDescription)); \(caHint)"
        case -1:
            // libcurl errors FoundationNetworking does not map: TLS failures among them.
            return "the request failed (\(error.localizedDescription)); if it is a TLS failure: \(caHint)"
        default: return error.localizedDescription
        }
    }
}
