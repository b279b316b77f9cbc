import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a finished helper process printed.
struct ProcessOutput {
    let status: Int32
    let stdout: String
    let stderr: String

    var both: String { stdout + stderr }
}

extension Harness {
    static let nginx = "/usr/sbin/nginx"
    static let tinyproxy = "/usr/bin/tinyproxy"
    static let unshare = "/usr/bin/unshare"
    static let openssl = "/usr/bin/openssl"

    /// Fails (never skips) when a tool the transport tests need is missing: CI installs it.
    static func requireExecutable(_ path: String, package: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError(
                "\(path) is missing: install the Debian package \(package) (.ci/run installs it): "
                    + "apt-get install -y --no-install-recommends \(package)")
        }
    }

    /// Runs `process` to its end with stdout and stderr in scratch files (no pipe can fill up),
    /// waiting off the cooperative pool.
    static func capture(_ process: Process) async throws -> ProcessOutput {
        try await offPool { try captureBlocking(process) }
    }

    private static func captureBlocking(_ process: Process) throws -> ProcessOutput {
        let fm = FileManager.default
        let base = fm.temporaryDirectory.appendingPathComponent("limahost-out-\(UUID().uuidString.prefix(8))")
        let outFile = base.appendingPathExtension("stdout")
        let errFile = base.appendingPathExtension("stderr")
        defer {
            try? fm.removeItem(at: outFile)
            try? fm.removeItem(at: errFile)
        }
        guard fm.createFile(atPath: outFile.path, contents: nil), fm.createFile(atPath: errFile.path, contents: nil)
        else { throw HarnessError("cannot create \(base.path).stdout/.stderr") }
        let out = try FileHandle(forWritingTo: outFile)
        let err = try FileHandle(forWritingTo: errFile)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return ProcessOutput(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }

    /// Runs `executable` with `arguments` to its end.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        in directory: URL? = nil
    ) async throws -> ProcessOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        return try await capture(process)
    }

    /// Like `run`, but a non-zero exit is an error naming the command and its output.
    @discardableResult
    static func runChecked(_ executable: String, _ arguments: [String], in directory: URL? = nil) async throws
        -> ProcessOutput
    {
        let output = try await run(executable, arguments, in: directory)
        guard output.status == 0 else {
            throw HarnessError(
                "\(([executable] + arguments).joined(separator: " ")) exited \(output.status): \(output.both)")
        }
        return output
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago: bound with port 0, read back, closed.
    /// Another process may take it before it is used, so starters retry with a new one.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw HarnessError("bind(127.0.0.1:0) failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw HarnessError("getsockname() failed: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func isListening(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    /// SIGTERM, up to 5 s for the exit, then SIGKILL: for `defer`, so no test leaves a helper behind.
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Starts a helper daemon on a free port and waits until it accepts connections, retrying
    /// with a new port when the helper exits first (the port was taken in the meantime).
    /// `launch` starts it for a port; `failure` describes a failed start (its stderr, its log).
    static func startOnFreePort(
        _ what: String, attempts: Int = 5, launch: (UInt16) throws -> Process, failure: () -> String
    ) async throws -> (Process, UInt16) {
        var last = ""
        for _ in 0..<attempts {
            let port = try freePort()
            let process = try launch(port)
            do {
                try await waitUntil("\(what) to listen on 127.0.0.1:\(port)", timeout: .seconds(20)) {
                    guard process.isRunning else { throw ExitedEarly() }
                    return isListening(port: port)
                }
                return (process, port)
            } catch is ExitedEarly {
                process.waitUntilExit()
                last = "\(what) exited with status \(process.terminationStatus): \(failure())"
            } catch {
                stop(process)
                throw error
            }
        }
        throw HarnessError("\(what) did not start in \(attempts) attempts; last: \(last)")
    }
}

private struct ExitedEarly: Error {}

/// A test CA, a server certificate it signed for 127.0.0.1 and localhost, and the CA installed
/// by `deploy/install-ca.sh --root` into a scratch root of the workspace. The real system
/// store is never changed: the agent sees the scratch store only through `trustWrapper`.
struct TLSFixture {
    let directory: URL
    var caCertificate: URL { directory.appendingPathComponent("ca.crt") }
    var serverCertificate: URL { directory.appendingPathComponent("server.crt") }
    var serverKey: URL { directory.appendingPathComponent("server.key") }
    /// `install-ca.sh --root` target: `root/etc/ssl/certs` is the system CAs plus the test CA.
    let root: URL
    var certsDir: URL { root.appendingPathComponent("etc/ssl/certs") }

    /// Runs the agent in its own mount namespace with `certsDir` bind-mounted over
    /// /etc/ssl/certs (the only store URLSession on Linux reads). Prepend to the agent's argv.
    var trustWrapper: [String] {
        [
            Harness.unshare, "--mount", "--", "/bin/sh", "-c",
            #"/bin/mount --bind "$1" /etc/ssl/certs && shift && exec "$@""#, "sh", certsDir.path,
        ]
    }

    init(workspace: Workspace) async throws {
        try Harness.requireExecutable(Harness.openssl, package: "openssl")
        try Harness.requireExecutable(Harness.unshare, package: "util-linux")
        try Harness.requireExecutable("/bin/mount", package: "mount")
        try Harness.requireExecutable("/usr/sbin/update-ca-certificates", package: "ca-certificates")
        directory = workspace.root.appendingPathComponent("tls")
        root = workspace.root.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let openssl = Harness.openssl
        try await Harness.runChecked(
            openssl,
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                "-subj", "/CN=limahost integration test CA \(UUID().uuidString.prefix(8))",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], in: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(to: directory.appendingPathComponent("server.ext"), atomically: false, encoding: .utf8)
        try await Harness.runChecked(
            openssl,
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=localhost",
            ], in: directory)
        try await Harness.runChecked(
            openssl,
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
            ], in: directory)

        let script = Harness.packageRoot.appendingPathComponent("deploy/install-ca.sh").path
        try await Harness.runChecked(script, ["--root", root.path, caCertificate.path])

        // The scratch store trusts the server, the real one does not, and the wrapper shows the
        // agent the scratch store: otherwise the tests below would prove nothing.
        let bundle = certsDir.appendingPathComponent("ca-certificates.crt").path
        try await Harness.runChecked(openssl, ["verify", "-CAfile", bundle, serverCertificate.path])
        let systemBundle = "/etc/ssl/certs/ca-certificates.crt"
        let real = try await Harness.run(openssl, ["verify", "-CAfile", systemBundle, serverCertificate.path])
        guard real.status != 0 else {
            throw HarnessError("the real system store already trusts the test CA: \(real.both)")
        }
        let inside = try await Harness.run(
            trustWrapper[0],
            Array(trustWrapper.dropFirst()) + [openssl, "verify", "-CAfile", systemBundle, serverCertificate.path])
        guard inside.status == 0 else {
            throw HarnessError(
                "the trust wrapper (unshare --mount + mount --bind over /etc/ssl/certs; needs root) "
                    + "did not make the test CA trusted: \(inside.both)")
        }
    }
}

/// nginx terminating TLS on 127.0.0.1 with the fixture's certificate and proxying to the
/// reference control plane; access and error logs in the workspace.
final class NginxProxy: @unchecked Sendable {
    let process: Process
    let port: UInt16
    let directory: URL
    var accessLog: String { Self.read(directory.appendingPathComponent("access.log")) }
    var errorLog: String { Self.read(directory.appendingPathComponent("error.log")) }

    private init(process: Process, port: UInt16, directory: URL) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    static func start(workspace: Workspace, tls: TLSFixture, upstreamPort: UInt16) async throws -> NginxProxy {
        try Harness.requireExecutable(Harness.nginx, package: "nginx")
        let directory = workspace.root.appendingPathComponent("nginx")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        let conf = directory.appendingPathComponent("nginx.conf")
        let (process, port) = try await Harness.startOnFreePort(
            "nginx",
            launch: { port in
                let dir = directory.path
                try """
                daemon off;
                master_process off;
                worker_processes 1;
                pid \(dir)/nginx.pid;
                error_log \(dir)/error.log info;
                events { worker_connections 256; }
                http {
                    access_log \(dir)/access.log;
                    client_body_temp_path \(dir)/tmp/body;
                    proxy_temp_path \(dir)/tmp/proxy;
                    fastcgi_temp_path \(dir)/tmp/fastcgi;
                    uwsgi_temp_path \(dir)/tmp/uwsgi;
                    scgi_temp_path \(dir)/tmp/scgi;
                    server {
                        listen 127.0.0.1:\(port) ssl;
                        server_name localhost 127.0.0.1;
                        ssl_certificate \(tls.serverCertificate.path);
                        ssl_certificate_key \(tls.serverKey.path);
                        client_max_body_size 64m;
                        location / {
                            proxy_pass http://127.0.0.1:\(upstreamPort);
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                            proxy_read_timeout 120s;
                            proxy_buffering off;
                        }
                    }
                }

                """.write(to: conf, atomically: false, encoding: .utf8)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: Harness.nginx)
                process.arguments = ["-p", directory.path + "/", "-c", conf.path, "-e", "\(dir)/error.log"]
                try Self.run(process, stderr: Self.emptyFile(directory, "stderr"))
                return process
            },
            failure: { Self.read(directory.appendingPathComponent("stderr")) + Self.read(directory, "error.log") })
        return NginxProxy(process: process, port: port, directory: directory)
    }

    func stop() { Harness.stop(process) }

    /// How many access log lines are `POST path` answered 200.
    func posts(_ path: String) -> Int {
        accessLog.split(separator: "\n").filter { $0.contains("\"POST \(path) HTTP/1.1\" 200 ") }.count
    }

    fileprivate static func read(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }
    fileprivate static func read(_ directory: URL, _ name: String) -> String {
        read(directory.appendingPathComponent(name))
    }

    /// Starts `process` with stdout discarded and stderr appended to `stderr`.
    fileprivate static func run(_ process: Process, stderr: URL) throws {
        let handle = try FileHandle(forWritingTo: stderr)
        defer { try? handle.close() }  // the child has its own copy once it runs
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    fileprivate static func emptyFile(_ directory: URL, _ name: String) throws -> URL {
        let file = directory.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw HarnessError("cannot create \(file.path)")
        }
        return file
    }
}

/// tinyproxy, a CONNECT proxy, on 127.0.0.1 in the foreground with its own configuration
/// (never the system service's), logging every CONNECT to a file in the workspace.
final class TinyProxy: @unchecked Sendable {
    let process: Process
    let port: UInt16
    let directory: URL
    var log: String { NginxProxy.read(directory, "tinyproxy.log") }
    var url: String { "http://127.0.0.1:\(port)" }

    private init(process: Process, port: UInt16, directory: URL) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    static func start(workspace: Workspace) async throws -> TinyProxy {
        try Harness.requireExecutable(Harness.tinyproxy, package: "tinyproxy")
        let directory = workspace.root.appendingPathComponent("tinyproxy")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let conf = directory.appendingPathComponent("tinyproxy.conf")
        let (process, port) = try await Harness.startOnFreePort(
            "tinyproxy",
            launch: { port in
                try """
                Port \(port)
                Listen 127.0.0.1
                Timeout 600
                MaxClients 50
                LogFile "\(directory.path)/tinyproxy.log"
                LogLevel Connect
                Allow 127.0.0.1
                DisableViaHeader Yes

                """.write(to: conf, atomically: false, encoding: .utf8)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: Harness.tinyproxy)
                process.arguments = ["-d", "-c", conf.path]
                try NginxProxy.run(process, stderr: NginxProxy.emptyFile(directory, "stderr"))
                return process
            },
            failure: { NginxProxy.read(directory, "stderr") + NginxProxy.read(directory, "tinyproxy.log") })
        return TinyProxy(process: process, port: port, directory: directory)
    }

    func stop() { Harness.stop(process) }
}
