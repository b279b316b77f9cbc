// limahost-refcp: the REFERENCE control plane. An in-memory job queue behind the
// control plane API (shared/control-plane-api.md) for development, tests and demos.
// It is NOT a production control plane: no TLS, one shared key, and no persistence
// beyond `--state-file` (the whole state saved on SIGTERM/SIGINT and loaded at start,
// so a test can restart it; a crash or SIGKILL loses everything since the last start).
// This file parses the command line and wires the parts together.

import FlyingFox
import FlyingSocks
import Foundation
import Models

let usage = """
    usage: limahost-refcp [--host 127.0.0.1] [--port 0] --api-key KEY [--lease-ms 60000]
                          [--max-wait-ms 60000] [--port-file PATH] [--state-file PATH]
                          [--heartbeat-ms MS] [--poll-wait-ms MS] [--metrics-ms MS] [--verbose]
                          [--close-connections]

    The REFERENCE control plane for limahost-agent: an in-memory job queue serving
    the agent API (/v1) and an admin API (/admin) over plain HTTP.
    FOR DEVELOPMENT, TESTS AND DEMOS ONLY. NOT FOR PRODUCTION: the state lives in
    memory (saved only at a graceful stop, with --state-file), there is no TLS, and
    one key guards everything.

      --host HOST          address to bind (default 127.0.0.1, loopback)
      --port PORT          port to bind; 0 picks a free port (default 0)
      --api-key KEY        the bearer key every request must carry (required)
      --lease-ms MS        job lease length (default 60000)
      --max-wait-ms MS     longest a claim is held open (default 60000)
      --port-file PATH     write the bound port number here once listening
      --state-file PATH    keep the state across restarts: load it from PATH at start
                           when the file exists; on SIGTERM/SIGINT save it (PATH.tmp,
                           then renamed over PATH) before the server stops answering.
                           Once saved, requests that would change it get 503 with
                           Retry-After: 1. Restart on the same --port to resume.
      --heartbeat-ms MS    heartbeatInterval to send in register replies
      --poll-wait-ms MS    pollWait to send in register replies
      --metrics-ms MS      metricsInterval to send in register replies
      --verbose            log one line per request to stderr
      --close-connections  answer every request with `Connection: close`, so that each
                           request comes on a new connection (tests, benchmarks)
      -h, --help           show this help

    Admin API (same bearer key):
      POST /admin/jobs                 enqueue a job object or an array of them: {ids, queuedAtNs}
      GET  /admin/jobs, /admin/jobs/ID job states (results, recordedResults, resultCount)
      POST /admin/jobs/ID/cancel       cancel; POST /admin/jobs/ID/redeliver {"sameAttempt"}
      GET  /admin/wait?timeoutMs=N     wait until every job is finished: {done, lastFinishedAtNs,
                                       jobs}; &jobs=false leaves out the job states
      GET  /admin/stats                requests, agents, results, faults applied per kind
      GET  /admin/logs?jobId=ID        log chunks received
      GET  /admin/metrics               metrics samples received (the newest 1000)
      POST /admin/agents/ID/forget     the agent's next claim or report gets 404
      POST /admin/faults               add a fault rule:
           {"endpoint": "register"|"claim"|"report"|"any",
            "kind": "status"|"reset"|"garbage"|"slow"|"lostReply",  (default status)
            "status": 500, "retryAfter": "1", "body": "...",       (kind status)
            "delayMs": 500,                                        (kind slow, 1..120000)
            "count": 1, "fraction": 1.0,                           (0 < fraction <= 1)
            "jobId": "job-7", "minBodyBytes": 200000}              (optional conditions)
           status, reset and garbage act before authentication and processing; slow
           waits, then processes; lostReply processes, then cuts the reply. reset and
           lostReply send headers and part of a body, then reset the connection (RST),
           so the client sees a transport error (libcurl: error 56, URLSession:
           connection lost), never a response.
      GET  /admin/faults               the rules, in order, with remaining counts
      DELETE /admin/faults             remove every rule

    """

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("limahost-refcp: \(message)\n".utf8))
    exit(code)
}

func parseArguments(_ arguments: [String]) -> ServerOptions {
    var options = ServerOptions()
    var apiKeyGiven = false
    var remaining = arguments[...]
    while let argument = remaining.popFirst() {
        var name = argument
        var inline: String?
        if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
            name = String(argument[..<equals])
            inline = String(argument[argument.index(after: equals)...])
        }
        func value() -> String {
            if let inline { return inline }
            guard let next = remaining.popFirst() else { fail("\(name) needs a value\n\n\(usage)") }
            return next
        }
        func milliseconds(minimum: Int) -> Int {
            let text = value()
            guard let number = Int(text), number >= minimum else {
                fail("\(name) must be an integer of at least \(minimum), got \(text)")
            }
            return number
        }
        switch name {
        case "-h", "--help":
            FileHandle.standardOutput.write(Data(usage.utf8))
            exit(0)
        case "--host":
            let host = value()
            options.host = host == "localhost" ? "127.0.0.1" : host
        case "--port":
            let text = value()
            guard let port = UInt16(text) else { fail("--port must be 0 to 65535, got \(text)") }
            options.port = port
        case "--api-key":
            options.apiKey = value()
            apiKeyGiven = true
        case "--lease-ms": options.leaseMs = milliseconds(minimum: 1)
        case "--max-wait-ms": options.maxWaitMs = milliseconds(minimum: 0)
        case "--port-file": options.portFile = value()
        case "--state-file": options.stateFile = value()
        case "--heartbeat-ms": options.heartbeatMs = milliseconds(minimum: 1)
        case "--poll-wait-ms": options.pollWaitMs = milliseconds(minimum: 0)
        case "--metrics-ms": options.metricsMs = milliseconds(minimum: 1)
        case "--verbose" where inline == nil: options.verbose = true
        case "--close-connections" where inline == nil: options.closeConnections = true
        default: fail("unknown argument \(argument)\n\n\(usage)")
        }
    }
    guard apiKeyGiven, !options.apiKey.isEmpty else { fail("--api-key is required\n\n\(usage)") }
    return options
}

let options = parseArguments(Array(CommandLine.arguments.dropFirst()))

let address: any SocketAddress
do {
    address =
        options.host.contains(":")
        ? try sockaddr_in6.inet6(ip6: options.host, port: options.port)
        : try sockaddr_in.inet(ip4: options.host, port: options.port)
} catch {
    fail("--host must be an IPv4 or IPv6 address, got \(options.host)")
}

/// The state saved by an earlier run with the same `--state-file`, if any; a file that
/// cannot be read ends the program rather than start empty by mistake.
func loadState(from path: String?) -> ControlPlaneState? {
    guard let path else { return nil }
    do {
        guard let state = try ControlPlaneState.load(from: path) else { return nil }
        let line =
            "limahost-refcp: loaded the state saved at \(RFC3339.format(state.savedAt)) from \(path) "
            + "(\(state.jobs.count) jobs, \(state.agents.count) agents)\n"
        FileHandle.standardError.write(Data(line.utf8))
        return state
    } catch {
        fail("cannot load --state-file: \(error)", code: 1)
    }
}

let controlPlane = ControlPlane(
    leaseMs: options.leaseMs, maxWaitMs: options.maxWaitMs, registrationReply: options.registrationReply,
    restoring: loadState(from: options.stateFile))
let server = HTTPServer(
    config: HTTPServer.Configuration(
        address: address,
        // Handlers time out on their own (claims and /admin/wait); this is only a backstop.
        timeout: Double(max(options.maxWaitMs, RequestHandler.maxAdminWaitMs)) / 1000 + 60,
        // Bodies up to the limit are buffered and flushed, so an early error keeps the connection usable.
        sharedRequestReplaySize: RequestHandler.maxBodyBytes,
        logger: .disabled),
    handler: RequestHandler(
        controlPlane: controlPlane, apiKey: options.apiKey, verbose: options.verbose,
        closeConnections: options.closeConnections))

// A signal ends every open wait (long polls answer `{"jobs": []}`) and, with --state-file,
// saves the state while the server still answers (from then on it is frozen: 503), gives
// those replies a moment to go out, then stops the server; `server.run()` below returns
// and we exit 0. A state that cannot be saved is reported and the exit code is 1.
let stateFile = options.stateFile
var signalSources: [any DispatchSourceSignal] = []
for signalNumber in [SIGTERM, SIGINT] {
    signal(signalNumber, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
    source.setEventHandler {
        // A backstop should a connection never finish; _exit cannot race main's exit.
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) { _exit(0) }
        Task {
            do {
                try await controlPlane.shutDown(savingTo: stateFile)
            } catch {
                fail("cannot save --state-file: \(error)", code: 1)
            }
            try? await Task.sleep(for: .milliseconds(100))  // lets the woken replies go out
            await server.stop(timeout: 0)
        }
    }
    source.resume()
    signalSources.append(source)
}

Task {
    do {
        try await server.waitUntilListening(timeout: 30)
    } catch {
        fail("the server did not start listening: \(error)", code: 1)
    }
    guard let bound = await server.listeningAddress else { fail("no listening address", code: 1) }
    let port: UInt16
    switch bound {
    case .ip4(_, let boundPort), .ip6(_, let boundPort): port = boundPort
    case .unix: fail("unexpected unix socket address", code: 1)
    }
    if !ListenerSocket.setNoDelay(port: port) {
        FileHandle.standardError.write(Data("limahost-refcp: cannot set TCP_NODELAY; replies may wait 40 ms\n".utf8))
    }
    await controlPlane.startLeaseTimer()
    if let portFile = options.portFile {
        do {
            // Whole or not at all, for whoever polls it; Foundation's atomic write would
            // leave a TemporaryDirectory.* behind in /tmp at every start.
            try String(port).write(toFile: portFile + ".tmp", atomically: false, encoding: .utf8)
            guard rename(portFile + ".tmp", portFile) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        } catch {
            fail("cannot write --port-file \(portFile): \(error)", code: 1)
        }
    }
    let line =
        "limahost-refcp listening on \(options.baseURL(port: port)) "
        + "(reference control plane: development and tests only)\n"
    FileHandle.standardOutput.write(Data(line.utf8))
}

do {
    try await server.run()
} catch {
    if await !controlPlane.isShuttingDown { fail("server stopped: \(error)", code: 1) }
}
exit(0)
